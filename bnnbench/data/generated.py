"""Deterministic per-sample randomness for the generated data sets (no global RNG involved)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from bnnbench.data.base import BaseDataModule

SPLIT_IDS = {"train": 0, "val": 1, "test": 2}  # three disjoint streams of samples
GEN_MEAN, GEN_STD = 0.5, 0.25  # image normalization of the generated sets (pixels in [0, 1])


def sample_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of one sample: a function of (seed, split, index) only."""
    return np.random.default_rng([seed, SPLIT_IDS[split], index])


def box_downsample(x: np.ndarray, factor: int) -> np.ndarray:
    """Mean over factor x factor blocks of the last two axes (anti-aliasing of a supersampled render)."""
    *lead, h, w = x.shape
    return x.reshape(*lead, h // factor, factor, w // factor, factor).mean(axis=(-3, -1))


def _copy(target: Any) -> Any:
    """A copy of a target: a tensor, or a dict of tensors (detection boxes, labels, flags)."""
    if isinstance(target, dict):
        return {k: v.clone() for k, v in target.items()}
    return target.clone()


class GeneratedDataset(Dataset):
    """Renders sample `index` on first access with `render(rng)` and keeps it (same item every time).

    Rendering costs milliseconds per sample, so later epochs read the cache; each worker
    process holds its own copy (a few MB at the default sizes).
    """

    def __init__(
        self,
        render: Callable[[np.random.Generator], tuple[torch.Tensor, torch.Tensor]],
        seed: int,
        split: str,
        length: int,
    ) -> None:
        self.render, self.seed, self.split, self.length = render, seed, split, length
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        if index not in self._cache:
            self._cache[index] = self.render(sample_rng(self.seed, self.split, index))
        image, target = self._cache[index]
        return image.clone(), _copy(target)  # callers may edit their copy in place


class GeneratedDataModule(BaseDataModule):
    """A generated set: `self.renderer` draws a sample from its own RNG; train, val (model
    selection) and test (the reported scores) are disjoint draws, test as large as val unless
    `test_size` says otherwise.

    The splits are created once, so the samples rendered during training stay cached through
    validation and testing (Lightning calls `setup` for every stage).
    """

    train_size: int
    val_size: int
    renderer: Callable[[np.random.Generator], tuple[torch.Tensor, torch.Tensor]]

    def pixel_stats(self) -> tuple[tuple[float], tuple[float]]:
        """Generated images are (pixels - GEN_MEAN) / GEN_STD, pixels in [0, 1]."""
        return (GEN_MEAN,), (GEN_STD,)

    def setup(self, stage: str | None = None) -> None:
        """Create the lazily rendered splits (cheap: nothing is drawn until accessed)."""
        if self.train_set is None:
            self.train_set = GeneratedDataset(self.renderer, self.seed, "train", self.train_size)
            self.val_set = GeneratedDataset(self.renderer, self.seed, "val", self.val_size)
            test_size = getattr(self, "test_size", None) or self.val_size
            self.test_set = GeneratedDataset(self.renderer, self.seed, "test", test_size)
