"""Generated depth set: determinism, contract, depth cues and its constant baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bnnbench.data import build
from bnnbench.data.gen_depth import GenDepthDataModule
from bnnbench.metrics import DepthMetrics

SMALL = dict(train_size=24, val_size=16)


def _items(
    dm: GenDepthDataModule, split: str, n: int = 4
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    dm.setup()
    ds = dm.train_set if split == "train" else dm.val_set
    return [ds[i] for i in range(n)]


def test_registered_and_contract_fields() -> None:
    dm = build("gen_depth", **SMALL)
    assert isinstance(dm, GenDepthDataModule)
    assert (dm.task, dm.min_depth, dm.max_depth, dm.eval_crop) == ("depth", 1e-3, 10.0, None)


def test_same_seed_same_data_other_seed_differs() -> None:
    a, b = (
        _items(GenDepthDataModule(seed=1, **SMALL), "val"),
        _items(GenDepthDataModule(seed=1, **SMALL), "val"),
    )
    for (xa, da), (xb, db) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(da, db)
    c = _items(GenDepthDataModule(seed=2, **SMALL), "val")
    assert not torch.equal(a[0][1], c[0][1])
    torch_state = torch.get_rng_state()
    _items(GenDepthDataModule(seed=5, **SMALL), "train", 2)
    assert torch.equal(torch_state, torch.get_rng_state())


def test_shapes_and_depth_range() -> None:
    items = _items(GenDepthDataModule(image_size=(40, 72), **SMALL), "train", 12)
    for x, d in items:
        assert x.shape == (3, 40, 72) and x.dtype == torch.float32 and torch.isfinite(x).all()
        assert d.shape == (1, 40, 72) and d.dtype == torch.float32
    depths = torch.stack([d for _, d in items])
    valid = depths > 0
    assert depths[valid].min() > 1e-3 and depths.max() <= 10.0
    assert 0.01 < (~valid).float().mean() < 0.5  # some pixels without ground truth


def test_ground_recedes_towards_the_horizon() -> None:
    for _, d in _items(GenDepthDataModule(**SMALL), "val", 8):
        bottom, middle = d[0, -1], d[0, 40]
        assert bottom[bottom > 0].median() < middle[middle > 0].median()


def test_train_dataloader_batch() -> None:
    dm = build("gen_depth", batch_size=4, **SMALL)
    dm.setup("fit")
    x, d = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 3, 64, 64) and d.shape == (4, 1, 64, 64) and d.dtype == torch.float32


def test_constant_baseline() -> None:
    dm = GenDepthDataModule(**SMALL)
    for per_image in (True, False):
        base = dm.constant_baseline(per_image=per_image)
        assert 1.0 < base["median"] < 6.0
        assert 0.2 < base["abs_rel"] < 2.0 and 1.0 < base["rmse"] < 6.0 and 0.05 < base["d1"] < 0.6


def test_depth_scores_formulas() -> None:
    # pred [1, 2] against gt [2, 2], scored by the metric the baseline uses
    metric = DepthMetrics(1e-3, 10.0)
    metric.update(torch.tensor([[1.0, 2.0]]), torch.tensor([[2.0, 2.0]]))
    s = {k: float(metric.compute()[k]) for k in ("abs_rel", "rmse", "d1")}
    assert s == pytest.approx({"abs_rel": 0.25, "rmse": np.sqrt(0.5), "d1": 0.5})


@pytest.mark.slow
def test_learnable_by_a_small_conv_net() -> None:
    torch.manual_seed(0)
    dm = GenDepthDataModule(batch_size=16)
    dm.setup()
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, padding=1),
        torch.nn.BatchNorm2d(32),
        torch.nn.ReLU(),
        torch.nn.Conv2d(32, 32, 3, padding=2, dilation=2),
        torch.nn.BatchNorm2d(32),
        torch.nn.ReLU(),
        torch.nn.Conv2d(32, 1, 1),
    )
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    for _ in range(3):
        for x, d in dm.train_dataloader():
            valid = d > 0
            loss = (net(x)[valid] - d[valid].log()).abs().mean()  # L1 on log depth
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    metric = DepthMetrics(dm.min_depth, dm.max_depth)
    with torch.no_grad():
        for x, d in dm.val_dataloader():
            metric.update(net(x).exp(), d)
    model = {k: float(v) for k, v in metric.compute().items()}
    base = dm.constant_baseline()
    assert model["abs_rel"] < 0.6 * base["abs_rel"] and model["d1"] > base["d1"] + 0.2
