"""What super-resolution data sets share: LR/HR pairs, their checks, crops and the bicubic downscale.

A sample is (lr, hr): float (3, h, w) and (3, h * scale, w * scale) RGB images in [0, 1]
(8-bit values, as the PNG files hold them). As in BasicSR (XPixelGroup/BasicSR, `paired_random_crop`
and `PairedImageDataset`), an HR image may exceed LR x scale by less than `scale` pixels (it
is cropped to LR x scale); any other size is a mismatch, refused before training with both files
named.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from bnnbench.data.base import BaseDataModule

Pair = tuple[Path, Path]  # (LR file, HR file)


def bicubic_down(hr: Tensor, scale: int) -> Tensor:
    """MATLAB-style `imresize(hr, 1/scale, 'bicubic')` of (..., 3, H, W) images in [0, 1], rounded to
    8 bits: torch's antialiased bicubic, which equals MATLAB's in the interior (its 2-4 border
    pixels differ slightly; BasicSR's `imresize` is the exact port)."""
    h, w = hr.shape[-2] // scale, hr.shape[-1] // scale
    flat = hr.reshape(-1, *hr.shape[-3:])[..., : h * scale, : w * scale]
    lr = F.interpolate(flat, size=(h, w), mode="bicubic", align_corners=False, antialias=True)
    return lr.clamp(0, 1).mul(255).round().div(255).reshape(*hr.shape[:-2], h, w)


def bicubic_up(lr: Tensor, scale: int) -> Tensor:
    """Bicubic upscaling of (N, 3, h, w) by `scale` (the diffusion model's condition and the
    bicubic baseline), clamped to [0, 1]."""
    return F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)


def read_rgb(path: Path) -> Tensor:
    """An image file as float (3, H, W) RGB in [0, 1]."""
    with Image.open(path) as im:
        return torch.from_numpy(np.asarray(im.convert("RGB")).copy()).permute(2, 0, 1).float() / 255


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) of an image file from its header (no pixels read)."""
    with Image.open(path) as im:
        return im.height, im.width


def check_sizes(lr_size: Sequence[int], hr_size: Sequence[int], scale: int, lr: Path | str, hr: Path | str, dataset: str) -> None:
    """Raise naming both files when the HR image is not LR x scale (up to scale - 1 extra pixels)."""
    if any(h // scale != lo for h, lo in zip(hr_size, lr_size)):
        raise ValueError(
            f"{dataset}: LR/HR size mismatch at x{scale}: {lr} is {lr_size[0]}x{lr_size[1]} but {hr} is "
            f"{hr_size[0]}x{hr_size[1]} (expected {lr_size[0] * scale}x{lr_size[1] * scale})"
        )


def check_pair_sizes(pairs: Sequence[Pair], scale: int, dataset: str) -> None:
    """Check every pair's sizes from the file headers, before any training."""
    for lr, hr in pairs:
        check_sizes(image_size(lr), image_size(hr), scale, lr, hr, dataset)


def check_patch_fits(pairs: Sequence[Pair], patch: int, scale: int, dataset: str) -> None:
    """Raise naming the first LR image smaller than the training crop (patch / scale per side)."""
    side = patch // scale
    for lr, _ in pairs:
        h, w = image_size(lr)
        if h < side or w < side:
            raise ValueError(
                f"{dataset}: {lr} is {h}x{w}, smaller than the LR training crop {side}x{side} "
                f"(patch_size={patch} at scale {scale}): lower patch_size or remove the image"
            )


def augment(lr: Tensor, hr: Tensor, rng: random.Random) -> tuple[Tensor, Tensor]:
    """The same random flip left-right, flip up-down and transpose of both (BasicSR's `augment`
    with hflip and rot: the 8 dihedral transforms)."""
    if rng.random() < 0.5:
        lr, hr = lr.flip(-1), hr.flip(-1)
    if rng.random() < 0.5:
        lr, hr = lr.flip(-2), hr.flip(-2)
    if rng.random() < 0.5:
        lr, hr = lr.transpose(-1, -2), hr.transpose(-1, -2)
    return lr.contiguous(), hr.contiguous()


def paired_crop(lr: Tensor, hr: Tensor, patch: int, scale: int, rng: random.Random) -> tuple[Tensor, Tensor]:
    """A random `patch` x `patch` HR crop and the LR crop at the same place (patch / scale)."""
    p = patch // scale
    h, w = lr.shape[-2:]
    if h < p or w < p:
        raise ValueError(f"an LR image of {h}x{w} is smaller than the LR patch {p}x{p} (patch_size={patch})")
    y, x = rng.randint(0, h - p), rng.randint(0, w - p)
    return lr[:, y : y + p, x : x + p], hr[:, y * scale : (y + p) * scale, x * scale : (x + p) * scale]


class PairedSRDataset(Dataset):
    """(lr, hr) of LR/HR file pairs: whole images (test), or random paired crops of `patch_size`
    HR pixels with flips and transposes (training), each image `repeats` times an epoch."""

    def __init__(self, pairs: Sequence[Pair], scale: int, dataset: str, patch_size: int | None = None,
                 repeats: int = 1) -> None:
        self.pairs, self.scale, self.dataset = list(pairs), scale, dataset
        self.patch_size, self.repeats = patch_size, repeats

    def __len__(self) -> int:
        return len(self.pairs) * self.repeats

    def load(self, lr_path: Path, hr_path: Path) -> tuple[Tensor, Tensor]:
        """The pair as tensors, HR cropped to LR x scale; a size mismatch names both files."""
        lr, hr = read_rgb(lr_path), read_rgb(hr_path)
        check_sizes(lr.shape[-2:], hr.shape[-2:], self.scale, lr_path, hr_path, self.dataset)
        return lr, hr[:, : lr.shape[-2] * self.scale, : lr.shape[-1] * self.scale]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        lr, hr = self.load(*self.pairs[index % len(self.pairs)])
        if self.patch_size is None:
            return lr, hr
        rng = random.Random(int(torch.randint(0, 2**31 - 1, ()).item()))  # follows torch's seeded RNG
        return augment(*paired_crop(lr, hr, self.patch_size, self.scale, rng), rng)


class SRDataModule(BaseDataModule):
    """Super-resolution data: batches (lr, hr), `scale` the upscaling factor; evaluation images
    may differ in size, so they come one at a time unless `eval_batch_size` says otherwise."""

    task = "sr"
    scale: int = 2


__all__ = ["PairedSRDataset", "SRDataModule", "augment", "bicubic_down", "bicubic_up", "check_pair_sizes", "check_patch_fits",
           "check_sizes", "image_size", "paired_crop", "read_rgb"]
