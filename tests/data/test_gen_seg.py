"""Generated segmentation set: determinism, contract, coverage and its constant baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bnnbench.data import build
from bnnbench.data.gen_seg import GenSegDataModule
from bnnbench.metrics import segmentation_metrics

SMALL = dict(train_size=24, val_size=16)


def _items(dm: GenSegDataModule, split: str, n: int = 4) -> list[tuple[torch.Tensor, torch.Tensor]]:
    dm.setup()
    ds = dm.train_set if split == "train" else dm.val_set
    return [ds[i] for i in range(n)]


def test_registered_and_contract_fields() -> None:
    dm = build("gen_seg", **SMALL)
    assert isinstance(dm, GenSegDataModule)
    assert (dm.task, dm.num_classes, dm.ignore_index, dm.image_size) == ("seg", 6, 255, (64, 64))


def test_same_seed_same_data_other_seed_or_split_differs() -> None:
    a, b = (
        _items(GenSegDataModule(seed=3, **SMALL), "train"),
        _items(GenSegDataModule(seed=3, **SMALL), "train"),
    )
    for (xa, ma), (xb, mb) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ma, mb)
    c = _items(GenSegDataModule(seed=4, **SMALL), "train")
    assert not torch.equal(a[0][0], c[0][0])
    v = _items(GenSegDataModule(seed=3, **SMALL), "val")
    assert not torch.equal(a[0][0], v[0][0])


def test_global_rng_untouched() -> None:
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    _items(GenSegDataModule(**SMALL), "train", 2)
    assert torch.equal(torch_state, torch.get_rng_state())
    assert np.array_equal(np_state[1], np.random.get_state()[1])


def test_shapes_dtypes_ranges_and_coverage() -> None:
    dm = GenSegDataModule(image_size=(48, 80), **SMALL)
    items = _items(dm, "val", 16)
    for x, m in items:
        assert x.shape == (3, 48, 80) and x.dtype == torch.float32 and torch.isfinite(x).all()
        assert m.shape == (48, 80) and m.dtype == torch.int64
    masks = torch.stack([m for _, m in items])
    assert set(masks.unique().tolist()) == set(range(6)) | {255}  # every class and some ignore
    assert 0.005 < (masks == 255).float().mean() < 0.15  # ignore only along borders
    images = torch.stack([x for x, _ in items])
    # pixels in [0, 1], normalized with mean 0.5 and std 0.25
    assert -2.01 <= images.min() and images.max() <= 2.01


def test_num_classes_configurable() -> None:
    _, m = _items(GenSegDataModule(num_classes=3, **SMALL), "train", 1)[0]
    assert set(m.unique().tolist()) <= {0, 1, 2, 255}
    with pytest.raises(ValueError):
        GenSegDataModule(num_classes=1)


def test_train_dataloader_batch() -> None:
    dm = build("gen_seg", batch_size=8, **SMALL)
    dm.setup("fit")
    x, m = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 3, 64, 64) and m.shape == (8, 64, 64) and m.dtype == torch.int64
    assert len(dm.test_dataloader().dataset) == 16


def test_constant_baseline() -> None:
    base = GenSegDataModule(**SMALL).constant_baseline()
    assert base["majority_class"] == 0  # background covers most pixels
    assert 0.4 < base["pixel_acc"] < 0.9
    # only the majority class has a non-zero IoU, equal to its pixel share
    assert base["miou"] == pytest.approx(base["pixel_acc"] / 6)


def test_miou_from_confusion() -> None:
    # (gt, pred) confusion [[3, 1], [0, 4]], scored by the metric the baseline uses
    target = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1]])
    pred = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 1]])
    metrics = segmentation_metrics(2)
    metrics.update(pred, target)
    assert float(metrics.compute()["mIoU"]) == pytest.approx((3 / 4 + 4 / 5) / 2)


@pytest.mark.slow
def test_learnable_by_a_small_conv_net() -> None:
    torch.manual_seed(0)
    dm = GenSegDataModule(batch_size=16)
    dm.setup()
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, padding=1),
        torch.nn.BatchNorm2d(32),
        torch.nn.ReLU(),
        torch.nn.Conv2d(32, 32, 3, padding=2, dilation=2),
        torch.nn.BatchNorm2d(32),
        torch.nn.ReLU(),
        torch.nn.Conv2d(32, 6, 1),
    )
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    for _ in range(3):
        for x, m in dm.train_dataloader():
            loss = torch.nn.functional.cross_entropy(net(x), m, ignore_index=255)
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    metrics = segmentation_metrics(6)
    with torch.no_grad():
        for x, m in dm.val_dataloader():
            metrics.update(net(x).argmax(1), m)
    assert float(metrics.compute()["mIoU"]) > dm.constant_baseline()["miou"] + 0.3
