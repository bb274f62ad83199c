"""PASCAL VOC loader on a tiny fixture in the VOC2012 layout, with and without SBD train_aug."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bnnbench import data
from bnnbench.data.voc import VOCDataModule


def build(name: str, **kwargs):
    """The reader with the protocol's own splits (no validation held out of training)."""
    return data.build(name, **kwargs) if name == "flowers102" else data.build(name, **{"val_holdout": 0.0, **kwargs})

TRAIN, VAL, AUG_ONLY = ["2007_000032", "2007_000039"], ["2007_000033"], ["2008_000002"]


def _label() -> np.ndarray:
    label = np.zeros((24, 32), dtype=np.uint8)
    label[4:20, 6:26] = 255  # VOC's object border
    label[6:18, 8:24] = 15
    return label


def _write_voc(root: Path) -> None:
    rng = np.random.default_rng(0)
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True)
    palette = rng.integers(0, 255, 768, dtype=np.uint8).tolist()
    for i in TRAIN + VAL + AUG_ONLY:
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(
            root / "JPEGImages" / f"{i}.jpg"
        )
    for i in TRAIN + VAL:
        png = Image.fromarray(_label(), mode="P")
        png.putpalette(palette)  # real VOC masks are palette PNGs: indices are the classes
        png.save(root / "SegmentationClass" / f"{i}.png")
    (root / "ImageSets/Segmentation/train.txt").write_text("\n".join(TRAIN) + "\n")
    (root / "ImageSets/Segmentation/val.txt").write_text("\n".join(VAL) + "\n")


def _write_aug(root: Path, deeplab_format: bool) -> None:
    (root / "SegmentationClassAug").mkdir()
    for i in TRAIN + VAL + AUG_ONLY:
        Image.fromarray(np.full((24, 32), 7, dtype=np.uint8)).save(
            root / "SegmentationClassAug" / f"{i}.png"
        )
    ids = TRAIN + AUG_ONLY + VAL  # a val id in the list must still stay out of training
    if deeplab_format:
        lines = [f"/JPEGImages/{i}.jpg /SegmentationClassAug/{i}.png" for i in ids]
        (root / "SegmentationClassAug/train_aug.txt").write_text("\n".join(lines) + "\n")
    else:
        (root / "ImageSets/Segmentation/train_aug.txt").write_text("\n".join(ids) + "\n")


@pytest.fixture()
def voc_root(tmp_path: Path) -> Path:
    _write_voc(tmp_path / "VOC2012")
    return tmp_path / "VOC2012"


def test_palette_masks_keep_classes_and_ignore(voc_root: Path) -> None:
    dm = build("voc", root=str(voc_root), eval_short_side=0)
    assert isinstance(dm, VOCDataModule) and dm.num_classes == 21
    dm.setup("fit")
    assert not dm.aug_used and len(dm.train_set) == 2 and len(dm.val_set) == 1
    x, m = dm.val_set[0]
    assert x.shape == (3, 24, 32) and torch.equal(m, torch.from_numpy(_label()).long())


def test_train_crop_pads_with_ignore(voc_root: Path) -> None:
    torch.manual_seed(0)
    dm = build("voc", root=str(voc_root), image_size=[40, 40], scale_range=[0.5, 0.6], batch_size=2)
    dm.setup("fit")
    x, m = next(iter(dm.train_dataloader()))
    assert x.shape == (2, 3, 40, 40) and m.shape == (2, 40, 40) and m.dtype == torch.int64
    assert (m == 255).float().mean() > 0.5  # images shrunk to short side 20-24, the rest is padding
    assert set(m.unique().tolist()) <= {0, 15, 255}


@pytest.mark.parametrize("deeplab_format", [False, True])
def test_train_aug_used_when_present(voc_root: Path, deeplab_format: bool) -> None:
    _write_aug(voc_root, deeplab_format)
    dm = build("voc", root=str(voc_root), image_size=[16, 16])
    dm.setup("fit")
    assert dm.aug_used
    names = sorted(p[0].stem for p in dm.train_set.pairs)
    assert names == sorted(TRAIN + AUG_ONLY)
    assert all(p[1].parent.name == "SegmentationClassAug" for p in dm.train_set.pairs)
    assert all(p[1].parent.name == "SegmentationClass" for p in dm.val_set.pairs)
    _, m = dm.train_set[0]
    assert set(m.unique().tolist()) <= {7, 255}
    off = build("voc", root=str(voc_root), use_aug=False)
    off.setup("fit")
    assert not off.aug_used and len(off.train_set) == 2


def test_missing_files_name_path_and_layout(voc_root: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="JPEGImages"):
        build("voc", root=str(tmp_path / "nowhere")).setup("fit")
    with pytest.raises(FileNotFoundError, match="train_aug.txt"):
        build("voc", root=str(voc_root), use_aug=True).setup("fit")
    (voc_root / "JPEGImages" / f"{TRAIN[1]}.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=f"{TRAIN[1]}.jpg") as err:
        build("voc", root=str(voc_root)).setup("fit")
    assert "SegmentationClass/" in str(err.value)
    (voc_root / "ImageSets/Segmentation/val.txt").unlink()
    with pytest.raises(FileNotFoundError, match="val.txt"):
        build("voc", root=str(voc_root)).setup("validate")
