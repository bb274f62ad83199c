"""STL-10 from its binary files (labelled train/test splits; the unlabeled split is ignored)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from bnnbench.data import DATASETS
from bnnbench.data.base import holdout, require_dir, require_file
from bnnbench.data.cls_base import STL10_STATS, ClsDataModule, Stats, TensorImageDataset

LAYOUT = """root/                      (or root = the stl10_binary folder itself)
  stl10_binary/
    train_X.bin   uint8, N x 3 x 96 x 96, each channel stored column-major
    train_y.bin   uint8 labels 1..10
    test_X.bin
    test_y.bin"""

SIDE = 96
NATIVE = (SIDE, SIDE)


def read_split(folder: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 3, 96, 96) uint8 and labels (N,) int64 in 0..9 of one labelled split."""
    x_path, y_path = folder / f"{split}_X.bin", folder / f"{split}_y.bin"
    raw = np.fromfile(x_path, dtype=np.uint8)
    labels = np.fromfile(y_path, dtype=np.uint8).astype(np.int64)
    per_image = 3 * SIDE * SIDE
    if raw.size % per_image or raw.size // per_image != labels.size:
        raise ValueError(
            f"stl10: {x_path} holds {raw.size} bytes, expected {labels.size} x {per_image} "
            f"(one 3x96x96 image per label in {y_path}); expected layout:\n{LAYOUT}"
        )
    if labels.size and (labels.min() < 1 or labels.max() > 10):
        raise ValueError(f"stl10: {y_path} has labels outside 1..10")
    # the files are written column-major per channel, so swap H and W after reshaping
    images = raw.reshape(-1, 3, SIDE, SIDE).transpose(0, 1, 3, 2)
    return torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels - 1)


@DATASETS.register("stl10")
class STL10DataModule(ClsDataModule):
    """STL-10: 5,000 train / 8,000 test 96x96 images, 10 classes; val and test = test split."""

    num_classes = 10
    stats: Stats = STL10_STATS
    class_list = (
        "airplane",
        "bird",
        "car",
        "cat",
        "deer",
        "dog",
        "horse",
        "monkey",
        "ship",
        "truck",
    )

    loader_defaults = {"batch_size": 128, "image_size": (96, 96)}

    def __init__(
        self,
        root: str | None = None,
        normalize: bool = True,
        augment: bool = True,
        crop_padding: int = 12,
        val_holdout: float = 0.02,
        **loader: Any,
    ) -> None:
        super().__init__(normalize, augment, **loader)
        self.val_holdout = val_holdout
        self.crop_padding = crop_padding
        path = require_dir(root, LAYOUT, "stl10")
        self.folder_path = path / "stl10_binary" if (path / "stl10_binary").is_dir() else path
        for name in ("train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin"):
            require_file(self.folder_path / name, LAYOUT, "stl10")
        self.class_names = list(self.class_list)

    def setup(self, stage: str | None = None) -> None:
        """Read once: test = the official test split, val = `val_holdout` of training."""
        if self.train_set is not None:
            return
        train = read_split(self.folder_path, "train")
        test = read_split(self.folder_path, "test")
        kept, held = holdout(len(train[1]), self.val_holdout, self.seed)
        self.train_set = TensorImageDataset(
            train[0][kept], train[1][kept], self.crop_flip_transform(NATIVE, self.crop_padding)
        )
        self.test_set = TensorImageDataset(*test, self.plain_transform(NATIVE))
        self.val_set = (
            TensorImageDataset(train[0][held], train[1][held], self.plain_transform(NATIVE)) if held else self.test_set
        )
