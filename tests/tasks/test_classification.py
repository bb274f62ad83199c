"""ClassificationTask: distributional loss (ReActNet Eq. 6), top-1/top-5, teacher loading."""

from __future__ import annotations

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from bnnbench import models, tasks
from bnnbench.tasks.classification import ClassificationTask, distribution_loss

K = 6


def _trainer(**kw) -> L.Trainer:
    return L.Trainer(
        accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, **kw,
    )


class Fixed(nn.Module):
    """Returns the logits stored in the 'image' (no parameters but a dummy scale)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def test_distribution_loss_is_soft_cross_entropy():
    # ReActNet Eq. 6: L = -1/n sum_c p_T(c) log p_S(c), mean over the batch
    torch.manual_seed(0)
    s, t = torch.randn(4, K), torch.randn(4, K)
    manual = -(t.softmax(1) * s.log_softmax(1)).sum(1).mean()
    assert torch.allclose(distribution_loss(s, t), manual)
    # a one-hot teacher gives the cross-entropy against its argmax
    sharp = F.one_hot(torch.tensor([0, 3, 5, 1]), K).float() * 1e4
    assert torch.allclose(distribution_loss(s, sharp), F.cross_entropy(s, sharp.argmax(1)), atol=1e-5)
    # the teacher gets no gradient
    t.requires_grad_(True)
    s.requires_grad_(True)
    distribution_loss(s, t).backward()
    assert t.grad is None and s.grad is not None


def test_top1_top5_by_hand():
    # 3 samples: the label is the top class, the 4th class, the 6th class
    logits = torch.tensor([[6.0, 5, 4, 3, 2, 1]] * 3)
    labels = torch.tensor([0, 3, 5])
    task = ClassificationTask(Fixed(), num_classes=K)
    loader = DataLoader(TensorDataset(logits, labels), batch_size=2)
    out = _trainer().validate(task, loader, verbose=False)[0]
    assert out["val/top1"] == pytest.approx(1 / 3)
    assert out["val/top5"] == pytest.approx(2 / 3)
    assert out["val/loss"] == pytest.approx(F.cross_entropy(logits, labels).item(), rel=1e-4)
    out = _trainer().test(task, loader, verbose=False)[0]
    assert out["test/top1"] == pytest.approx(1 / 3) and out["test/top5"] == pytest.approx(2 / 3)


def test_registered_and_trains_a_narrow_model():
    torch.manual_seed(0)
    model = models.build("resnet20", width_mult=0.25, num_classes=4)
    task = tasks.build("cls", model=model, num_classes=4, optimizer={"name": "adam", "lr": 1e-2},
                       scheduler={"name": "none"})
    x, y = torch.randn(16, 3, 16, 16), torch.randint(0, 4, (16,))
    loader = DataLoader(TensorDataset(x, y), batch_size=8)
    before = [p.detach().clone() for p in model.parameters()]
    _trainer(max_steps=2, limit_val_batches=1).fit(task, loader, loader)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def _save_teacher(tmp_path, lightning_format: bool):
    teacher = models.build("resnet20", binarizer="fp", width_mult=0.25, num_classes=K)
    sd = teacher.state_dict()
    path = tmp_path / "teacher.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in sd.items()}, "epoch": 3} if lightning_format else sd, path)
    return teacher, path


@pytest.mark.parametrize("lightning_format", [False, True])
def test_teacher_from_a_local_checkpoint(tmp_path, lightning_format):
    teacher, path = _save_teacher(tmp_path, lightning_format)
    task = ClassificationTask(
        models.build("resnet20", width_mult=0.25, num_classes=K), num_classes=K, teacher_ckpt=str(path),
        teacher_model="resnet20", teacher_kwargs={"binarizer": "fp", "width_mult": 0.25, "num_classes": K},
    )
    for k, v in teacher.state_dict().items():
        assert torch.equal(task.teacher.state_dict()[k], v)
    assert not task.teacher.training and not any(p.requires_grad for p in task.teacher.parameters())
    # the teacher is neither trained nor saved with the student
    assert not any(k.startswith("teacher") for k in task.state_dict())
    assert len(list(task.parameters())) == len(list(task.model.parameters()))


def test_distillation_step_uses_the_teacher():
    torch.manual_seed(0)
    teacher, student = Fixed(), Fixed()
    teacher.scale.data.fill_(3.0)
    x, y = torch.randn(4, K), torch.randint(0, K, (4,))
    task = ClassificationTask(student, num_classes=K, teacher=teacher, distill_weight=0.25)
    task.train()
    assert not teacher.training  # stays in eval mode
    loss = task.training_step((x, y), 0)
    expected = 0.25 * distribution_loss(x, 3 * x) + 0.75 * F.cross_entropy(x, y)
    assert torch.allclose(loss, expected)


def test_bad_teacher_settings():
    with pytest.raises(ValueError, match="needs teacher_model"):
        ClassificationTask(Fixed(), num_classes=K, teacher_ckpt="x.ckpt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ClassificationTask(Fixed(), num_classes=K, teacher_ckpt="/nonexistent.ckpt", teacher_model="resnet20")
    with pytest.raises(ValueError, match="distill_weight"):
        ClassificationTask(Fixed(), num_classes=K, distill_weight=2.0)


def test_teacher_from_a_lightning_run(tmp_path):
    # a real-valued model trained by this task, saved by Lightning, then used as a teacher
    kwargs = {"binarizer": "fp", "width_mult": 0.25, "num_classes": K}
    first = ClassificationTask(models.build("resnet20", **kwargs), num_classes=K, scheduler={"name": "none"})
    x, y = torch.randn(8, 3, 16, 16), torch.randint(0, K, (8,))
    trainer = _trainer(max_steps=1, limit_val_batches=0)
    trainer.fit(first, DataLoader(TensorDataset(x, y), batch_size=8))
    path = tmp_path / "fp.ckpt"
    trainer.save_checkpoint(path)
    task = ClassificationTask(
        models.build("resnet20", width_mult=0.25, num_classes=K), num_classes=K,
        teacher_ckpt=str(path), teacher_model="resnet20", teacher_kwargs=kwargs,
    )
    first.model.eval()
    assert torch.allclose(task.teacher(x), first.model(x), atol=1e-6)
