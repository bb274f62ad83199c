"""Shared data module for depth sets listed in BTS-format split files (NYU v2, KITTI)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from bnnbench.data.base import BaseDataModule, require_dir, require_file
from bnnbench.data.file_dataset import Pair, PairedFileDataset, check_pairs
from bnnbench.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    as_depth_batch_item,
    depth_train_transform,
    kb_crop,
    normalize,
    read_depth,
    read_image,
)


def resolve(root: Path, path: str) -> Path:
    """A split-file path: absolute if it exists as such, else relative to root.

    BTS lists write root-relative paths with a leading "/" (e.g. "/kitchen_0028b/rgb_00045.jpg").
    """
    p = Path(path).expanduser()
    return p if p.is_absolute() and p.exists() else root / path.lstrip("/")


def read_bts_split(list_file: Path, image_root: Path, depth_root: Path) -> list[Pair]:
    """Lines "rgb_path depth_path focal"; lines whose depth is "None" (no ground truth) are skipped."""
    pairs = []
    for line in list_file.read_text().splitlines():
        parts = line.split()
        if len(parts) < 2 or parts[1] == "None":
            continue
        pairs.append((resolve(image_root, parts[0]), resolve(depth_root, parts[1])))
    return pairs


@dataclass(frozen=True)
class DepthReader:
    """Reads an (image, depth PNG) pair and applies the set's fixed crops; picklable."""

    name: str
    depth_scale: float
    kb_crop: bool = False
    box: tuple[int, int, int, int] | None = None  # (top, left, height, width) fixed crop

    def __call__(
        self, image_path: Path, depth_path: Path
    ) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
        image, depth = read_image(image_path), read_depth(depth_path, self.depth_scale)
        if image.shape[-2:] != depth.shape[-2:]:
            raise ValueError(f"{self.name}: {image_path} and {depth_path} differ in size")
        if self.kb_crop:
            image, depth = kb_crop(image, depth)
        if self.box is not None:
            image, depth = F.crop(image, *self.box), F.crop(depth, *self.box)
        return image, depth


class DepthFileDataModule(BaseDataModule):
    """Train: (rotation) + random crop of image_size + flip + colour jitter; eval: full size.

    Subclasses set `name`, `layout`, `depth_scale`, the default split files and eval fields,
    and may override `roots` and `reader`.
    """

    task = "depth"
    min_depth = 1e-3
    max_depth = 10.0
    name = ""
    layout = ""
    depth_scale = 1.0
    default_train_file = ""
    default_test_file = ""

    def pixel_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The files' images are normalised with ImageNet's mean and std."""
        return IMAGENET_MEAN, IMAGENET_STD

    def __init__(
        self,
        root: str | None = None,
        train_file: str | None = None,
        val_file: str | None = None,
        test_file: str | None = None,
        rotate_degrees: float = 0.0,
        color_jitter: float = 0.0,
        **loader: Any,
    ) -> None:
        """Split files: absolute, or relative to root; val_file defaults to test_file."""
        super().__init__(**loader)
        self.root = root
        self.train_file = train_file or self.default_train_file
        self.test_file = test_file or self.default_test_file
        self.val_file = val_file or self.test_file
        self.rotate_degrees = rotate_degrees
        self.color_jitter = color_jitter

    def roots(self, split: str) -> tuple[Path, Path]:
        """(image root, depth root) of a split, checked to exist."""
        root = require_dir(self.root, self.layout, self.name)
        return root, root

    def reader(self, train: bool) -> DepthReader:
        """How a raw pair is read and cropped for training or evaluation."""
        return DepthReader(self.name, self.depth_scale)

    def list_pairs(self, split: str) -> list[Pair]:
        """(image, depth) paths of "train", "val" or "test", all checked to exist."""
        image_root, depth_root = self.roots(split)
        name = {"train": self.train_file, "val": self.val_file, "test": self.test_file}[split]
        root = require_dir(self.root, self.layout, self.name)
        # pathlib: root / an absolute path is that absolute path
        list_file = require_file(root / Path(name).expanduser(), self.layout, self.name)
        return check_pairs(
            read_bts_split(list_file, image_root, depth_root), self.layout, self.name, list_file
        )

    def _dataset(self, split: str) -> PairedFileDataset:
        train = split == "train"
        tf = (
            depth_train_transform(self.image_size, self.rotate_degrees, self.color_jitter)
            if train
            else normalize()
        )
        return PairedFileDataset(
            self.list_pairs(split), self.reader(train), tf, as_depth_batch_item
        )

    def setup(self, stage: str | None = None) -> None:
        """List and check every file of the splits this stage needs."""
        if stage in (None, "fit") and self.train_set is None:
            self.train_set = self._dataset("train")
        if stage in (None, "fit", "validate") and self.val_set is None:
            self.val_set = self._dataset("val")
        if stage in (None, "test", "predict") and self.test_set is None:
            self.test_set = self._dataset("test")
