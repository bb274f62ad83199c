"""Shared data module for segmentation sets stored as image files + label PNGs (ADE20K, VOC)."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torchvision import tv_tensors

from bnnbench.data.base import BaseDataModule, holdout, require_dir
from bnnbench.data.file_dataset import Pair, PairedFileDataset
from bnnbench.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    as_seg_batch_item,
    read_image,
    read_label,
    seg_eval_transform,
    seg_train_transform,
)


@dataclass(frozen=True)
class SegReader:
    """Reads an (image, label PNG) pair; picklable, so worker processes can use it."""

    name: str
    reduce_zero_label: bool = False
    ignore_index: int = 255

    def __call__(
        self, image_path: Path, label_path: Path
    ) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
        image, mask = read_image(image_path), read_label(label_path)
        if image.shape[-2:] != mask.shape[-2:]:
            raise ValueError(f"{self.name}: {image_path} and {label_path} differ in size")
        if self.reduce_zero_label:  # mmseg's reduce_zero_label: 0 ("other") -> ignore, k -> k - 1
            m = mask.as_subclass(torch.Tensor).long()
            mask = tv_tensors.Mask(torch.where(m == 0, self.ignore_index, m - 1).to(torch.uint8))
        return image, mask


class SegFileDataModule(BaseDataModule, abc.ABC):
    """Train: random scale / pad / crop / flip; eval: short side resized (or kept), batch 1.

    Subclasses set `name`, `layout`, `num_classes`, `reduce_zero_label` and implement
    `list_pairs(root, split)`, which checks the files.
    """

    task = "seg"
    ignore_index = 255
    name = ""
    layout = ""
    reduce_zero_label = False

    def pixel_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The files' images are normalised with ImageNet's mean and std."""
        return IMAGENET_MEAN, IMAGENET_STD

    loader_defaults = {"batch_size": 32, "eval_batch_size": 1, "image_size": (480, 480)}

    def __init__(
        self,
        root: str | None = None,
        base_size: int | None = None,
        scale_range: Sequence[float] = (0.5, 2.0),
        eval_short_side: int | None = None,
        val_holdout: float = 0.02,
        **loader: Any,
    ) -> None:
        """`base_size`/`eval_short_side` default to min(image_size); eval_short_side=0 keeps full size."""
        super().__init__(**loader)
        self.root = root
        self.base_size = base_size or min(self.image_size)
        self.scale_range = tuple(scale_range)
        self.eval_short_side = min(self.image_size) if eval_short_side is None else eval_short_side
        self.val_holdout = val_holdout

    @abc.abstractmethod
    def list_pairs(self, root: Path, split: str) -> list[Pair]:
        """(image, label) paths of a split ("train" or "val"), all checked to exist."""

    def _dataset(self, pairs: list[Pair], train: bool) -> PairedFileDataset:
        if train:
            tf = seg_train_transform(
                self.image_size, self.base_size, self.scale_range, self.ignore_index
            )
        else:
            tf = seg_eval_transform(self.eval_short_side or None)
        reader = SegReader(self.name, self.reduce_zero_label, self.ignore_index)
        return PairedFileDataset(pairs, reader, tf, as_seg_batch_item)

    def setup(self, stage: str | None = None) -> None:
        """List and check every file: test = the official validation split (neither set
        publishes test labels), val = `val_holdout` of training, for model selection."""
        root = require_dir(self.root, self.layout, self.name)
        if self.train_set is None:
            pairs = self.list_pairs(root, "train")
            kept, held = holdout(len(pairs), self.val_holdout, self.seed)
            self.train_set = self._dataset([pairs[i] for i in kept], train=True)
            self.test_set = self._dataset(self.list_pairs(root, "val"), train=False)
            self.val_set = self._dataset([pairs[i] for i in held], train=False) if held else self.test_set
