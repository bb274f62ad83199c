"""Oxford Flowers-102: jpg/ images with the official imagelabels.mat and setid.mat splits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

from bnnbench.data import DATASETS
from bnnbench.data.base import require_dir, require_file
from bnnbench.data.cls_base import IMAGENET_STATS, ClsDataModule, ImageFileDataset, Stats

LAYOUT = """root/
  jpg/
    image_00001.jpg ... image_08189.jpg
  imagelabels.mat     key 'labels': class 1..102 of image i at position i-1
  setid.mat           keys 'trnid', 'valid', 'tstid': 1-based image ids"""

TRAIN_SPLITS = {"trn": ("trnid",), "trn+val": ("trnid", "valid")}


def read_mat_vector(path: Path, key: str) -> np.ndarray:
    """A 1-D int64 array stored under `key` in a .mat file."""
    mat = scipy.io.loadmat(str(path))
    if key not in mat:
        raise ValueError(f"flowers102: {path} has no key {key!r}; expected layout:\n{LAYOUT}")
    return np.asarray(mat[key]).reshape(-1).astype(np.int64)


@DATASETS.register("flowers102")
class Flowers102DataModule(ClsDataModule):
    """Flowers-102 (102 classes). train_split "trn": val = valid, test = tstid;
    "trn+val": train on both, val = test = tstid."""

    num_classes = 102
    stats: Stats = IMAGENET_STATS

    loader_defaults = {"batch_size": 64, "num_workers": 4, "image_size": (224, 224)}

    def __init__(
        self,
        root: str | None = None,
        normalize: bool = True,
        augment: bool = True,
        train_split: str = "trn",
        eval_resize_ratio: float = 256 / 224,
        **loader: Any,
    ) -> None:
        super().__init__(normalize, augment, **loader)
        if train_split not in TRAIN_SPLITS:
            raise ValueError(
                f"flowers102: train_split must be one of {sorted(TRAIN_SPLITS)}, got {train_split!r}"
            )
        self.train_split = train_split
        self.eval_resize_ratio = eval_resize_ratio
        self.root = require_dir(root, LAYOUT, "flowers102")
        self.jpg_dir = require_dir(self.root / "jpg", LAYOUT, "flowers102")
        self.labels_path = require_file(self.root / "imagelabels.mat", LAYOUT, "flowers102")
        self.setid_path = require_file(self.root / "setid.mat", LAYOUT, "flowers102")

    def _samples(self, labels: np.ndarray, keys: tuple[str, ...]) -> list[tuple[str, int]]:
        ids = np.concatenate([read_mat_vector(self.setid_path, k) for k in keys])
        if ids.size and (ids.min() < 1 or ids.max() > labels.size):
            raise ValueError(
                f"flowers102: {self.setid_path} {keys} has image ids outside 1..{labels.size}"
            )
        samples = []
        for image_id in ids.tolist():
            path = require_file(self.jpg_dir / f"image_{image_id:05d}.jpg", LAYOUT, "flowers102")
            samples.append((str(path), int(labels[image_id - 1]) - 1))
        return samples

    def setup(self, stage: str | None = None) -> None:
        """Read labels and split ids once and check every listed image exists."""
        if self.train_set is not None:
            return
        labels = read_mat_vector(self.labels_path, "labels")
        if labels.size == 0 or labels.min() < 1 or labels.max() > self.num_classes:
            raise ValueError(f"flowers102: {self.labels_path} 'labels' must lie in 1..102")
        eval_tf = self.center_crop_transform(self.eval_resize_ratio)
        self.train_set = ImageFileDataset(
            self._samples(labels, TRAIN_SPLITS[self.train_split]),
            self.resized_crop_transform(self.eval_resize_ratio),
        )
        self.test_set = ImageFileDataset(self._samples(labels, ("tstid",)), eval_tf)
        if self.train_split == "trn":
            self.val_set = ImageFileDataset(self._samples(labels, ("valid",)), eval_tf)
        else:
            self.val_set = self.test_set
