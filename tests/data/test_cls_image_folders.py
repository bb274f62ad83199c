"""ImageNet, Tiny ImageNet and Flowers-102 readers on small fixture folders of real JPEGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from bnnbench import data
from bnnbench.data.cls_base import IMAGENET_STATS


def build(name: str, **kwargs):
    """The reader with the protocol's own splits (no validation held out of training)."""
    return data.build(name, **kwargs) if name == "flowers102" else data.build(name, **{"val_holdout": 0.0, **kwargs})

QUADRANTS = {"top_left": (255, 0, 0), "top_right": (0, 255, 0), "bottom_left": (0, 0, 255)}


def _save_quadrants(path: Path, height: int, width: int, grey: bool = False) -> None:
    """A JPEG whose quadrants are red, green, blue and white (top-left, top-right, ...)."""
    a = np.full((height, width, 3), 255, dtype=np.uint8)
    a[: height // 2, : width // 2] = QUADRANTS["top_left"]
    a[: height // 2, width // 2 :] = QUADRANTS["top_right"]
    a[height // 2 :, : width // 2] = QUADRANTS["bottom_left"]
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(a)
    (image.convert("L") if grey else image).save(path, quality=95)


def _assert_quadrants(image: torch.Tensor) -> None:
    """Unnormalized (3, H, W) image shows the fixture's colours in the right corners."""
    expected = {(0, 0): (1, 0, 0), (0, -1): (0, 1, 0), (-1, 0): (0, 0, 1), (-1, -1): (1, 1, 1)}
    for (y, x), rgb in expected.items():
        assert torch.allclose(image[:, y, x], torch.tensor(rgb, dtype=torch.float32), atol=0.1)


# ImageNet ---------------------------------------------------------------------------------


def _write_imagenet(root: Path, wnids: tuple[str, ...] = ("n02", "n01", "n03")) -> None:
    for wnid in wnids:
        for k in range(2):
            _save_quadrants(root / "train" / wnid / f"{wnid}_{k}.JPEG", 40, 48)
        _save_quadrants(root / "val" / wnid / f"ILSVRC2012_val_{wnid}.JPEG", 48, 40)


def test_imagenet_classes_labels_and_pixels(tmp_path: Path) -> None:
    _write_imagenet(tmp_path)
    _save_quadrants(tmp_path / "train" / "n03" / "grey.JPEG", 40, 40, grey=True)
    dm = build(
        "imagenet",
        root=str(tmp_path),
        image_size=[16, 16],
        normalize=False,
        batch_size=4,
        num_workers=0,
    )
    assert dm.num_classes == 3 and dm.class_names == ["n01", "n02", "n03"]  # known before setup
    dm.setup()
    assert len(dm.train_set) == 7 and len(dm.val_set) == 3 and dm.test_set is dm.val_set
    assert dm.train_set.targets == [0, 0, 1, 1, 2, 2, 2]
    for i, wnid in enumerate(dm.class_names):
        path, label = dm.val_set.samples[i]
        assert wnid in path and label == i
    image, label = dm.val_set[1]
    assert image.shape == (3, 16, 16) and image.dtype == torch.float32 and label.item() == 1
    _assert_quadrants(image)
    grey, _ = dm.train_set[6]
    assert grey.shape == (3, 16, 16)
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 3, 16, 16) and y.dtype == torch.int64


def test_imagenet_normalization_and_subsets(tmp_path: Path) -> None:
    _write_imagenet(tmp_path)
    (tmp_path / "val" / "n02" / "ILSVRC2012_val_n02.JPEG").unlink()
    (tmp_path / "val" / "n02").rmdir()  # a val split may lack classes
    dm = build("imagenet", root=str(tmp_path), image_size=[16, 16], num_workers=0)
    dm.setup()
    assert dm.num_classes == 3 and [label for _, label in dm.val_set.samples] == [0, 2]
    mean, std = IMAGENET_STATS
    expected = torch.tensor([(1 - mean[0]) / std[0], -mean[1] / std[1], -mean[2] / std[2]])
    assert torch.allclose(dm.val_set[0][0][:, 0, 0], expected, atol=0.5)


def test_imagenet_broken_folders(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"(?s)train.*expected layout.*n01440764"):
        build("imagenet", root=str(tmp_path))
    _write_imagenet(tmp_path, ("n01",))
    _save_quadrants(tmp_path / "val" / "n99" / "x.JPEG", 8, 8)
    dm = build("imagenet", root=str(tmp_path))
    with pytest.raises(ValueError, match=r"(?s)n99.*expected layout"):
        dm.setup()
    for path in list((tmp_path / "val").rglob("*.JPEG")):
        path.rename(tmp_path / "val" / f"flat_{path.parent.name}.JPEG")
        path.parent.rmdir()
    with pytest.raises(ValueError, match=r"(?s)val.*no class folders.*expected layout"):
        build("imagenet", root=str(tmp_path))


# Tiny ImageNet ----------------------------------------------------------------------------

VAL_ANNOTATIONS = [("val_0.JPEG", "n02"), ("val_1.JPEG", "n01"), ("val_2.JPEG", "n03")]


def _write_tiny(root: Path) -> None:
    (root / "wnids.txt").parent.mkdir(parents=True, exist_ok=True)
    (root / "wnids.txt").write_text("n03\nn01\nn02\n")
    for wnid in ("n01", "n02", "n03"):
        for k in range(2):
            _save_quadrants(root / "train" / wnid / "images" / f"{wnid}_{k}.JPEG", 64, 64)
        (root / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
    lines = [f"{name}\t{wnid}\t0\t0\t63\t63" for name, wnid in VAL_ANNOTATIONS]
    for name, _ in VAL_ANNOTATIONS:
        _save_quadrants(root / "val" / "images" / name, 64, 64)
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")


def test_tiny_imagenet_labels_and_pixels(tmp_path: Path) -> None:
    _write_tiny(tmp_path)
    dm = build("tiny_imagenet", root=str(tmp_path), normalize=False, num_workers=0, batch_size=2)
    assert dm.num_classes == 3 and dm.class_names == ["n01", "n02", "n03"]
    dm.setup()
    assert len(dm.train_set) == 6 and dm.train_set.targets == [0, 0, 1, 1, 2, 2]
    assert [dm.val_set[i][1].item() for i in range(3)] == [1, 0, 2]
    image, _ = dm.val_set[0]
    assert image.shape == (3, 64, 64)
    _assert_quadrants(image)
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (2, 3, 64, 64) and y.tolist()[0] in range(3)


def test_tiny_imagenet_broken_folders(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"(?s)train.*val_annotations.txt"):
        build("tiny_imagenet", root=str(tmp_path))
    _write_tiny(tmp_path)
    ann = tmp_path / "val" / "val_annotations.txt"
    ann.write_text(ann.read_text() + "val_3.JPEG\tn77\t0\t0\t1\t1\n")
    dm = build("tiny_imagenet", root=str(tmp_path))
    with pytest.raises(ValueError, match=r"val_annotations.txt line 4.*wnids.txt"):
        dm.setup()
    (tmp_path / "wnids.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"(?s)wnids.txt.*expected layout"):
        build("tiny_imagenet", root=str(tmp_path))


# Flowers-102 ------------------------------------------------------------------------------

LABELS = [1, 2, 3, 1, 2, 3, 102, 1]  # of image_00001 ... image_00008


def _write_flowers(root: Path) -> None:
    for i in range(1, len(LABELS) + 1):
        _save_quadrants(root / "jpg" / f"image_{i:05d}.jpg", 30, 40)
    scipy.io.savemat(root / "imagelabels.mat", {"labels": np.array([LABELS], dtype=np.uint8)})
    ids = {"trnid": [1, 2, 3], "valid": [4, 5], "tstid": [6, 7, 8]}
    scipy.io.savemat(
        root / "setid.mat", {k: np.array([v], dtype=np.uint16) for k, v in ids.items()}
    )


def test_flowers102_splits_labels_and_pixels(tmp_path: Path) -> None:
    _write_flowers(tmp_path)
    kw = {"root": str(tmp_path), "image_size": [16, 16], "normalize": False, "num_workers": 0}
    dm = build("flowers102", **kw)
    dm.setup()
    assert dm.num_classes == 102
    assert dm.train_set.targets == [0, 1, 2]
    assert dm.val_set.targets == [0, 1]
    assert dm.test_set.targets == [2, 101, 0]
    assert dm.test_set.samples[1][0].endswith("image_00007.jpg")
    image, label = dm.test_set[1]
    assert image.shape == (3, 16, 16) and label.item() == 101
    _assert_quadrants(image)

    both = build("flowers102", train_split="trn+val", **kw)
    both.setup()
    assert both.train_set.targets == [0, 1, 2, 0, 1] and both.val_set is both.test_set
    assert both.train_set[0][0].shape == (3, 16, 16)


def test_flowers102_broken_folders(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="train_split"):
        build("flowers102", root=str(tmp_path), train_split="train")
    _write_flowers(tmp_path)
    (tmp_path / "setid.mat").unlink()
    with pytest.raises(FileNotFoundError, match=r"(?s)setid.mat.*trnid"):
        build("flowers102", root=str(tmp_path))
    _write_flowers(tmp_path)
    (tmp_path / "jpg" / "image_00007.jpg").unlink()
    dm = build("flowers102", root=str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"(?s)image_00007.jpg.*expected layout"):
        dm.setup()
