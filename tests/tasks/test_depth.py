"""DepthTask and the SILog loss: hand computations and a tiny training run."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from bnnbench import tasks
from bnnbench.metrics import DEPTH_METRIC_NAMES
from bnnbench.tasks.losses import SILogLoss


def _trainer(**kw) -> L.Trainer:
    return L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kw,
    )


def test_silog_loss_hand_computation() -> None:
    # BTS SILog loss (Lee et al. 2019, Eq. 2 of Eigen et al. 2014 with lambda = 0.85, x10):
    # valid gt (2, 4, 1) (gt 0 and gt 20 >= max 10 are dropped), pred (2, 2, 1)
    # d = ln pred - ln gt = (0, -ln2, 0): mean d^2 = ln2^2/3, (mean d)^2 = ln2^2/9
    # loss = 10 sqrt(ln2^2/3 - 0.85 ln2^2/9) = 10 ln2 sqrt(2.15) / 3
    loss_fn = SILogLoss(variance_focus=0.85, scale=10.0, min_depth=0.1, max_depth=10.0)
    gt = torch.tensor([2.0, 4.0, 1.0, 0.0, 20.0]).view(1, 1, 1, 5)
    pred = torch.tensor([2.0, 2.0, 1.0, 5.0, 5.0]).view(1, 1, 1, 5)
    expected = 10 * math.log(2) * math.sqrt(2.15) / 3
    assert loss_fn(pred, gt).item() == pytest.approx(expected, rel=1e-6)


def test_silog_loss_edge_cases_stay_finite() -> None:
    loss_fn = SILogLoss(min_depth=0.1, max_depth=10.0)
    pred = torch.full((1, 1, 2, 2), 3.0, requires_grad=True)
    perfect = loss_fn(pred, torch.full((1, 1, 2, 2), 3.0))
    perfect.backward()
    assert perfect.item() < 1e-4 and torch.isfinite(pred.grad).all()
    empty = loss_fn(pred, torch.zeros(1, 1, 2, 2))
    assert empty.item() == 0.0 and empty.requires_grad


class HalfResConstant(nn.Module):
    """Predicts 2 m everywhere at half the input resolution (exercises the upsampling)."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        b, _, h, w = image.shape
        return torch.full((b, 1, h // 2, w // 2), 2.0)


def test_validate_upsamples_and_logs_all_metrics() -> None:
    # gt: 2 m except one 4 m pixel per image and one pixel without GT.
    # Upsampled prediction is 2 everywhere; 15 valid pixels, 14 exact, one with ratio 2:
    # d1 = 14/15, AbsRel = (2/4)/15 = 1/30, RMSE = sqrt(4/15)
    gt = torch.full((2, 1, 4, 4), 2.0)
    gt[:, :, 0, 0] = 4.0
    gt[:, :, 3, 3] = 0.0
    loader = DataLoader(TensorDataset(torch.zeros(2, 3, 4, 4), gt), batch_size=1)
    task = tasks.build("depth", model=HalfResConstant(), min_depth=0.1, max_depth=10.0)
    val = _trainer().validate(task, loader, verbose=False)[0]
    assert set(val) == {f"val/{k}" for k in DEPTH_METRIC_NAMES} | {"val/loss"}
    assert val["val/d1"] == pytest.approx(14 / 15)
    assert val["val/abs_rel"] == pytest.approx(1 / 30)
    assert val["val/rmse"] == pytest.approx(math.sqrt(4 / 15))
    test = _trainer().test(task, loader, verbose=False)[0]
    assert set(test) == {f"test/{k}" for k in DEPTH_METRIC_NAMES}
    assert test["test/d1"] == pytest.approx(14 / 15)


def test_unknown_eval_crop_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="garg"):
        tasks.build("depth", model=HalfResConstant(), eval_crop="kitti")


class TinyDepthNet(nn.Module):
    """Three convolutions and the contract's sigmoid * max_depth head."""

    def __init__(self, max_depth: float) -> None:
        super().__init__()
        self.max_depth = max_depth
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 1, 1),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.body(image)) * self.max_depth


def test_tiny_training_run_lowers_loss() -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    image = torch.randn(96, 3, 12, 12, generator=g)
    depth = 1.0 + 3.0 * torch.sigmoid(2.0 * image[:, :1])  # 1..4 m, learnable from channel 0
    depth[torch.rand(depth.shape, generator=g) < 0.1] = 0.0  # pixels without GT
    train = TensorDataset(image[:64], depth[:64])
    val = TensorDataset(image[64:], depth[64:])
    model = TinyDepthNet(max_depth=10.0)
    task = tasks.build(
        "depth",
        model=model,
        min_depth=1e-3,
        max_depth=10.0,
        eval_crop=None,
        optimizer={"name": "adam", "lr": 1e-2},
        scheduler={"name": "linear"},
        silog_variance_focus=0.85,
        silog_scale=10.0,
    )

    def train_loss() -> float:
        with torch.no_grad():
            return task.criterion(model(train.tensors[0]), train.tensors[1]).item()

    before = train_loss()
    trainer = _trainer(max_epochs=20)
    trainer.fit(
        task, DataLoader(train, batch_size=16, shuffle=True), DataLoader(val, batch_size=16)
    )
    assert train_loss() < 0.5 * before
    assert trainer.callback_metrics["val/d1"].item() > 0.8
    assert math.isfinite(trainer.callback_metrics["val/silog"].item())
