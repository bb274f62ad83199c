"""Generated super-resolution pairs from the photos that ship with scikit-learn, no download.

The photos are `sklearn.datasets.load_sample_images()` (china.jpg, flower.jpg, 427x640). Each is
downscaled once, MATLAB-style (antialiased bicubic, rounded to 8 bits), as DIV2K's LR images are
made from the whole HR image; a pair is an HR crop and the LR crop at the same place. Training
crops come from the top 70% of each photo; validation and test tiles from a grid on the bottom
30%, held out: each photo's tiles with the most detail (largest mean absolute HR gradient), in
turn, so that flat sky and blurred background do not fill the scores; the same tiles whatever
the seed, validation and test disjoint.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from torch import Tensor
from torch.utils.data import Dataset

from bnnbench.data import DATASETS
from bnnbench.data.gen_det import photos
from bnnbench.data.generated import GeneratedDataset
from bnnbench.data.sr_pairs import SRDataModule, augment, bicubic_down

TRAIN_PART = 0.7  # share of each photo's height that training crops come from


@lru_cache(maxsize=4)
def low_res_photos(scale: int) -> tuple[Tensor, ...]:
    """Each bundled photo cropped to a multiple of `scale` and downscaled by it (8-bit values)."""
    out = []
    for p in photos():
        h, w = (p.shape[-2] // scale) * scale, (p.shape[-1] // scale) * scale
        out.append(bicubic_down(p[:, :h, :w], scale))
    return tuple(out)


@lru_cache(maxsize=1)
def high_res_photos() -> tuple[Tensor, ...]:
    """The bundled photos at 8-bit levels (they are JPEG pixels: a no-op kept explicit)."""
    return tuple(p.mul(255).round().div(255) for p in photos())


def _pair(index: int, y: int, x: int, lr_patch: int, scale: int) -> tuple[Tensor, Tensor]:
    """The pair whose LR crop starts at (y, x) of photo `index`: 8-bit HR and its LR."""
    hr = high_res_photos()[index]
    lr = low_res_photos(scale)[index][:, y : y + lr_patch, x : x + lr_patch]
    s = scale
    return lr.clone(), hr[:, y * s : (y + lr_patch) * s, x * s : (x + lr_patch) * s].clone()


class TrainCrops:
    """Draws one training pair (a random crop of the left part of a photo, flipped / transposed)."""

    def __init__(self, patch_size: int, scale: int) -> None:
        self.lr_patch, self.scale = patch_size // scale, scale

    def __call__(self, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
        index = int(rng.integers(len(photos())))
        h, w = low_res_photos(self.scale)[index].shape[-2:]
        bottom = int(TRAIN_PART * h) - self.lr_patch
        y, x = int(rng.integers(0, bottom + 1)), int(rng.integers(0, w - self.lr_patch + 1))
        lr, hr = _pair(index, y, x, self.lr_patch, self.scale)
        return augment(lr, hr, random.Random(int(rng.integers(2**31))))


def detail(hr: Tensor) -> float:
    """Mean absolute horizontal and vertical difference of an image (how much detail it holds)."""
    return float(hr.diff(dim=-1).abs().mean() + hr.diff(dim=-2).abs().mean())


def held_out_tiles(tile: int, scale: int) -> list[tuple[int, int, int]]:
    """(photo, y, x) LR corners of a grid of `tile`-pixel HR tiles on the bottom 30% of the
    photos, alternating between the photos, each photo's most detailed first."""
    lr_tile = tile // scale
    grids = []
    for index, lr in enumerate(low_res_photos(scale)):
        h, w = lr.shape[-2:]
        y0 = int(TRAIN_PART * h)  # training crops end above this row
        cells = [(index, y0 + r * lr_tile, c * lr_tile) for r in range((h - y0) // lr_tile) for c in range(w // lr_tile)]
        grids.append(sorted(cells, key=lambda cell: -detail(_pair(*cell, lr_tile, scale)[1])))
    return [cell for cells in zip(*grids) for cell in cells]


@lru_cache(maxsize=8)
def _held_out(tile: int, scale: int) -> tuple[tuple[int, int, int], ...]:
    return tuple(held_out_tiles(tile, scale))


class TileSet(Dataset):
    """Fixed held-out (lr, hr) tiles."""

    def __init__(self, cells: Sequence[tuple[int, int, int]], tile: int, scale: int) -> None:
        self.pairs_at = [_pair(i, y, x, tile // scale, scale) for i, y, x in cells]

    def __len__(self) -> int:
        return len(self.pairs_at)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        lr, hr = self.pairs_at[index]
        return lr.clone(), hr.clone()


@DATASETS.register("gen_sr")
class GenSRDataModule(SRDataModule):
    """Generated x2 (or x`scale`) pairs from scikit-learn's photos; fixed held-out val and test tiles."""

    loader_defaults = {"image_size": (48, 48)}

    def __init__(
        self,
        scale: int = 2,
        train_size: int = 480,
        val_size: int = 4,
        test_size: int = 12,
        test_tile: int = 64,
        **loader: Any,
    ) -> None:
        """`image_size`: the HR training crop (square); `test_tile`: the HR side of the val/test tiles."""
        super().__init__(**loader)
        if scale < 2:
            raise ValueError(f"gen_sr: scale must be >= 2, got {scale}")
        if self.image_size[0] != self.image_size[1] or self.image_size[0] % scale or test_tile % scale:
            raise ValueError(f"gen_sr: image_size must be square and test_tile a multiple of scale={scale}, got "
                             f"{list(self.image_size)} and {test_tile}")
        self.scale = scale
        self.train_size, self.val_size, self.test_size, self.test_tile = train_size, val_size, test_size, test_tile
        cells = list(_held_out(test_tile, scale))
        if val_size < 1 or test_size < 1 or val_size + test_size > len(cells):
            raise ValueError(f"gen_sr: the held-out part holds {len(cells)} tiles of {test_tile} px: need "
                             f"val_size, test_size >= 1 with val_size + test_size <= {len(cells)}, got {val_size}, {test_size}")
        self.cells = cells

    def setup(self, stage: str | None = None) -> None:
        """Create the splits once (training crops are drawn lazily and cached)."""
        if self.train_set is None:
            self.train_set = GeneratedDataset(TrainCrops(int(self.image_size[0]), self.scale), self.seed, "train",
                                              self.train_size)
            self.test_set = TileSet(self.cells[: self.test_size], self.test_tile, self.scale)
            self.val_set = TileSet(self.cells[self.test_size : self.test_size + self.val_size], self.test_tile, self.scale)


__all__ = ["GenSRDataModule", "held_out_tiles", "low_res_photos"]
