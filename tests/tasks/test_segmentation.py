"""SegmentationTask: mIoU / pixel accuracy by hand, and a tiny training run."""

from __future__ import annotations

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from bnnbench import tasks
from bnnbench.metrics import segmentation_metrics
from bnnbench.tasks.segmentation import SegmentationTask

K = 4

# Hand example (2x3, 255 = ignore). Class 3 is predicted only on the ignored pixel and never
# appears in the target, so after dropping ignored pixels it is absent from both.
TARGET = torch.tensor([[0, 0, 1], [1, 255, 2]])
PRED = torch.tensor([[0, 1, 1], [1, 3, 0]])
# 5 valid pixels, 3 correct -> pixel accuracy 3/5.
# IoU = TP / (TP + FP + FN):
#   class 0: TP 1 (0,0), FP 1 (1,2), FN 1 (0,1) -> 1/3
#   class 1: TP 2, FP 1 (0,1), FN 0            -> 2/3
#   class 2: TP 0, FP 0, FN 1 (1,2)            -> 0
#   class 3: union 0 -> left out (mmseg nanmean); counting it as 0 would give 1/4
# mIoU = (1/3 + 2/3 + 0) / 3 = 1/3
MIOU, PIXEL_ACC = 1 / 3, 3 / 5


class Oracle(nn.Module):
    """Returns one-hot logits of the class stored in image channel 0 (no parameters)."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return F.one_hot(image[:, 0].long(), K).permute(0, 3, 1, 2).float() * 10


def _trainer(**kw) -> L.Trainer:
    return L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kw,
    )


def _hand_loader(batch_size: int) -> DataLoader:
    image = PRED.float().expand(3, -1, -1).unsqueeze(0)  # (1,3,2,3)
    # split the 2x3 example into two 1x3 images so batch_size=1 gives two batches
    images = torch.cat([image[:, :, :1], image[:, :, 1:]])
    masks = torch.cat([TARGET[None, :1], TARGET[None, 1:]])
    return DataLoader(TensorDataset(images, masks), batch_size=batch_size)


def test_metric_collection_hand_values() -> None:
    metrics = segmentation_metrics(K, 255, prefix="val/")
    out = metrics(PRED[None], TARGET[None])
    assert out["val/mIoU"].item() == pytest.approx(MIOU)
    assert out["val/pixel_acc"].item() == pytest.approx(PIXEL_ACC)


@pytest.mark.parametrize("batch_size", [1, 2])
def test_validate_and_test_accumulate_over_the_whole_set(batch_size: int) -> None:
    # Two batches of one 1x3 row each. Averaging per batch would give
    # row 0: (IoU0 1/2 + IoU1 1/2)/2 = 1/2 and row 1: (IoU0 0 + IoU1 1 + IoU2 0)/3 = 1/3,
    # mean 5/12; accumulated over the set it must stay 1/3.
    task = tasks.build("seg", model=Oracle(), num_classes=K, ignore_index=255)
    val = _trainer().validate(task, _hand_loader(batch_size), verbose=False)[0]
    assert val["val/mIoU"] == pytest.approx(MIOU)
    assert val["val/pixel_acc"] == pytest.approx(PIXEL_ACC)
    assert "val/loss" in val
    test = _trainer().test(task, _hand_loader(batch_size), verbose=False)[0]
    assert test["test/mIoU"] == pytest.approx(MIOU)
    assert test["test/pixel_acc"] == pytest.approx(PIXEL_ACC)


def test_all_ignored_batch_gives_zero_loss() -> None:
    task = SegmentationTask(nn.Conv2d(3, K, 1), num_classes=K)
    logits = torch.randn(1, K, 2, 2, requires_grad=True)
    loss = task.criterion(logits, torch.full((1, 2, 2), 255))
    assert loss.item() == 0.0 and loss.requires_grad


def test_hparams_exclude_model() -> None:
    task = tasks.build("seg", model=nn.Conv2d(3, K, 1), num_classes=K, ignore_index=255)
    assert task.hparams["num_classes"] == K and "model" not in task.hparams


def _data(n: int, generator: torch.Generator) -> TensorDataset:
    image = torch.randn(n, 3, 12, 12, generator=generator)
    mask = (image[:, 0] > 0).long()
    mask[torch.rand(mask.shape, generator=generator) < 0.05] = 255
    return TensorDataset(image, mask)


def test_tiny_training_run_learns() -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    train, val = _data(64, g), _data(32, g)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 2, 1),
    )
    task = tasks.build(
        "seg",
        model=model,
        num_classes=2,
        ignore_index=255,
        optimizer={"name": "adamw", "lr": 1e-2, "weight_decay": 0.01},
        scheduler={"name": "onecycle", "pct_start": 0.1},
    )

    def train_loss() -> float:
        with torch.no_grad():
            return F.cross_entropy(
                model(train.tensors[0]), train.tensors[1], ignore_index=255
            ).item()

    before = train_loss()
    trainer = _trainer(max_epochs=20)
    trainer.fit(
        task, DataLoader(train, batch_size=16, shuffle=True), DataLoader(val, batch_size=16)
    )
    assert train_loss() < 0.5 * before
    assert "train/loss" in trainer.callback_metrics and "lr" in trainer.callback_metrics

    # best constant predictor on the same val set (mIoU is about 1/4 for 2 balanced classes)
    masks = val.tensors[1]
    constant = max(
        segmentation_metrics(2, 255)(torch.full_like(masks, c), masks)["mIoU"].item()
        for c in (0, 1)
    )
    miou = trainer.callback_metrics["val/mIoU"].item()
    assert miou > constant + 0.3
    assert trainer.callback_metrics["val/pixel_acc"].item() > 0.8
