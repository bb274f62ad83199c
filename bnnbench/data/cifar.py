"""CIFAR-10 and CIFAR-100 from their python-pickle batches (our reader: no checksum checks)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bnnbench.data import DATASETS
from bnnbench.data.base import holdout, require_dir, require_file
from bnnbench.data.cls_base import (
    CIFAR10_STATS,
    CIFAR100_STATS,
    ClsDataModule,
    Stats,
    TensorImageDataset,
)

CIFAR10_LAYOUT = """root/                      (or root = the cifar-10-batches-py folder itself)
  cifar-10-batches-py/
    data_batch_1 ... data_batch_5   pickled dicts: b'data' (N, 3072) uint8, b'labels'
    test_batch
    batches.meta                    b'label_names' (optional)"""

CIFAR100_LAYOUT = """root/                      (or root = the cifar-100-python folder itself)
  cifar-100-python/
    train                           pickled dicts: b'data' (N, 3072) uint8, b'fine_labels'
    test
    meta                            b'fine_label_names' (optional)"""

NATIVE = (32, 32)


# What a CIFAR batch pickle may build besides dicts, lists, bytes, str and ints: numpy arrays.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
}


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that builds only what the CIFAR format holds, so a crafted file cannot run code."""

    def find_class(self, module: str, name: str) -> type:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it holds {module}.{name}, which a CIFAR batch never does")


def _unpickle(path: Path) -> object:
    with open(path, "rb") as f:
        try:
            return _CifarUnpickler(f, encoding="bytes").load()
        except pickle.UnpicklingError as err:
            raise ValueError(f"{path}: refused, not a CIFAR batch ({err}); nothing in it was run") from None


def read_batch(path: Path, label_key: bytes, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One pickled CIFAR batch as images (N, 3, 32, 32) uint8 and labels (N,) int64 (read with an
    unpickler that builds only dicts, lists, bytes, strings, numbers and numpy arrays)."""
    entry = _unpickle(path)
    if not isinstance(entry, dict) or b"data" not in entry or label_key not in entry:
        raise ValueError(f"{path}: expected a pickled dict with keys b'data' and {label_key!r}")
    data = np.asarray(entry[b"data"], dtype=np.uint8)
    labels = np.asarray(entry[label_key], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise ValueError(
            f"{path}: b'data' has shape {data.shape} for {len(labels)} labels; "
            "expected (N, 3072) with one label per row"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{path}: labels outside 0..{num_classes - 1}")
    # rows hold the R plane, then G, then B, each row-major: exactly (3, 32, 32)
    return data.reshape(-1, 3, 32, 32), labels


def read_names(path: Path, key: bytes) -> list[str] | None:
    """Class names from a CIFAR meta file, or None if the file is absent."""
    if not path.is_file():
        return None
    meta = _unpickle(path)
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: expected a pickled dict with key {key!r}")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in meta.get(key, [])] or None


class _CifarBase(ClsDataModule):
    """Shared CIFAR logic; subclasses name their folder, files and label key."""

    folder: str = ""
    train_files: tuple[str, ...] = ()
    test_file: str = ""
    meta_file: str = ""
    label_key: bytes = b""
    names_key: bytes = b""
    layout: str = ""
    name: str = ""

    loader_defaults = {"batch_size": 128, "image_size": (32, 32)}

    def __init__(
        self,
        root: str | None = None,
        normalize: bool = True,
        augment: bool = True,
        crop_padding: int = 4,
        val_holdout: float = 0.02,
        **loader: Any,
    ) -> None:
        super().__init__(normalize, augment, **loader)
        self.val_holdout = val_holdout
        self.crop_padding = crop_padding
        self.folder_path = self._find_folder(root)
        for name in (*self.train_files, self.test_file):
            require_file(self.folder_path / name, self.layout, self.name)

    def _find_folder(self, root: str | None) -> Path:
        path = require_dir(root, self.layout, self.name)
        if (path / self.folder).is_dir():
            return path / self.folder
        if (path / self.test_file).is_file():
            return path
        raise FileNotFoundError(
            f"{self.name}: neither {path / self.folder} nor {path / self.test_file} exists; "
            f"expected layout:\n{self.layout}"
        )

    def _read(self, files: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [read_batch(self.folder_path / f, self.label_key, self.num_classes) for f in files]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        return torch.from_numpy(images), torch.from_numpy(labels)

    def setup(self, stage: str | None = None) -> None:
        """Read once: test = the official test split, val = `val_holdout` of training."""
        if self.train_set is not None:
            return
        self.class_names = read_names(self.folder_path / self.meta_file, self.names_key)
        train = self._read(self.train_files)
        test = self._read((self.test_file,))
        kept, held = holdout(len(train[1]), self.val_holdout, self.seed)
        self.train_set = TensorImageDataset(
            train[0][kept], train[1][kept], self.crop_flip_transform(NATIVE, self.crop_padding)
        )
        self.test_set = TensorImageDataset(*test, self.plain_transform(NATIVE))
        self.val_set = (
            TensorImageDataset(train[0][held], train[1][held], self.plain_transform(NATIVE)) if held else self.test_set
        )


@DATASETS.register("cifar10")
class CIFAR10DataModule(_CifarBase):
    """CIFAR-10: 50,000 train / 10,000 test 32x32 images, 10 classes."""

    num_classes = 10
    stats: Stats = CIFAR10_STATS
    folder = "cifar-10-batches-py"
    train_files = tuple(f"data_batch_{i}" for i in range(1, 6))
    test_file = "test_batch"
    meta_file = "batches.meta"
    label_key = b"labels"
    names_key = b"label_names"
    layout = CIFAR10_LAYOUT
    name = "cifar10"


@DATASETS.register("cifar100")
class CIFAR100DataModule(_CifarBase):
    """CIFAR-100 with its 100 fine labels: 50,000 train / 10,000 test 32x32 images."""

    num_classes = 100
    stats: Stats = CIFAR100_STATS
    folder = "cifar-100-python"
    train_files = ("train",)
    test_file = "test"
    meta_file = "meta"
    label_key = b"fine_labels"
    names_key = b"fine_label_names"
    layout = CIFAR100_LAYOUT
    name = "cifar100"
