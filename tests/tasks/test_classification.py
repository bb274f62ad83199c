"""ClassificationTask: distributional loss (ReActNet Eq. 6), top-1/top-5, a frozen teacher."""

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


def test_a_teacher_stays_frozen_and_out_of_the_checkpoint():
    teacher = models.build("resnet20", binarizer="fp", width_mult=0.25, num_classes=K)
    task = ClassificationTask(models.build("resnet20", width_mult=0.25, num_classes=K), num_classes=K, teacher=teacher)
    task.train()
    assert task.teacher is teacher and not teacher.training
    assert not any(p.requires_grad for p in teacher.parameters())
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


def test_bad_distill_weight():
    with pytest.raises(ValueError, match="distill_weight"):
        ClassificationTask(Fixed(), num_classes=K, distill_weight=2.0)


