"""STL-10 reader on fixture binary files written in the real column-major layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bnnbench import data


def build(name: str, **kwargs):
    """The reader with the protocol's own splits (no validation held out of training)."""
    return data.build(name, **kwargs) if name == "flowers102" else data.build(name, **{"val_holdout": 0.0, **kwargs})


def _images(n: int, seed: int) -> np.ndarray:
    """n images (N, 3, H=96, W=96) with red top-left, green top-right, blue bottom-left."""
    images = np.random.default_rng(seed).integers(0, 256, (n, 3, 96, 96), dtype=np.uint8)
    for (y, x), rgb in {(0, 0): (255, 0, 0), (0, 95): (0, 255, 0), (95, 0): (0, 0, 255)}.items():
        images[:, :, y, x] = rgb
    return images


def _write_split(folder: Path, split: str, images: np.ndarray, labels: list[int]) -> None:
    # STL-10 stores each channel column by column: byte c*9216 + x*96 + y holds pixel (y, x)
    stored = np.empty((len(images), 3, 96, 96), dtype=np.uint8)
    for y in range(96):
        stored[:, :, :, y] = images[:, :, y, :]
    stored.tofile(folder / f"{split}_X.bin")
    np.asarray(labels, dtype=np.uint8).tofile(folder / f"{split}_y.bin")


def _write_stl10(root: Path) -> Path:
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    _write_split(folder, "train", _images(4, 0), [1, 2, 10, 5])
    _write_split(folder, "test", _images(3, 1), [10, 3, 1])
    return folder


def test_counts_labels_and_column_major_layout(tmp_path: Path) -> None:
    _write_stl10(tmp_path)
    dm = build("stl10", root=str(tmp_path), normalize=False, batch_size=2)
    dm.setup()
    assert dm.num_classes == 10 and len(dm.class_names) == 10
    assert len(dm.train_set) == 4 and len(dm.val_set) == 3 and dm.test_set is dm.val_set
    assert dm.train_set.labels.tolist() == [0, 1, 9, 4]
    image, label = dm.val_set[0]
    assert label.item() == 9 and image.shape == (3, 96, 96) and image.dtype == torch.float32
    assert image[:, 0, 0].tolist() == [1.0, 0.0, 0.0]
    assert image[:, 0, 95].tolist() == [0.0, 1.0, 0.0]  # a missing transpose puts it bottom-left
    assert image[:, 95, 0].tolist() == [0.0, 0.0, 1.0]
    expected = torch.from_numpy(_images(3, 1)[1]).float() / 255
    assert torch.allclose(dm.val_set[1][0], expected, atol=1e-6)
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (2, 3, 96, 96) and y.dtype == torch.int64


def test_folder_root_resize_and_augmentation(tmp_path: Path) -> None:
    folder = _write_stl10(tmp_path)
    dm = build("stl10", root=str(folder), image_size=[64, 64])
    dm.setup()
    assert dm.val_set[0][0].shape == (3, 64, 64)
    assert dm.train_set[0][0].shape == (3, 64, 64)


def test_broken_folders_name_path_and_layout(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"(?s)missing.*stl10_binary.*train_X.bin"):
        build("stl10", root=str(tmp_path))
    folder = _write_stl10(tmp_path)
    (folder / "test_y.bin").unlink()
    with pytest.raises(FileNotFoundError, match=r"(?s)test_y.bin.*expected layout"):
        build("stl10", root=str(tmp_path))

    np.asarray([1, 2], dtype=np.uint8).tofile(folder / "test_y.bin")  # 3 images, 2 labels
    dm = build("stl10", root=str(tmp_path))
    with pytest.raises(ValueError, match=r"(?s)test_X.bin.*expected layout"):
        dm.setup()
