"""Paired image/target readers and augmentations for dense prediction (torchvision v2 ops).

Targets travel as `tv_tensors.Mask`, so every v2 geometric op moves them with the image and
resamples them with nearest neighbour (class ids and depths are never blended).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def read_image(path: Path) -> tv_tensors.Image:
    """An RGB image file as a uint8 (3,H,W) tv_tensor."""
    with Image.open(path) as img:
        return tv_tensors.Image(F.pil_to_tensor(img.convert("RGB")))


def read_label(path: Path) -> tv_tensors.Mask:
    """A label PNG (palette or grey) as its raw uint8 (H,W) indices."""
    with Image.open(path) as img:
        # np.array of a palette ("P") image gives the indices, not the colours
        return tv_tensors.Mask(torch.from_numpy(np.array(img, dtype=np.uint8)))


def read_depth(path: Path, scale: float) -> tv_tensors.Mask:
    """A uint16 depth PNG divided by `scale` as a float32 (1,H,W) map in metres; 0 stays 0."""
    with Image.open(path) as img:
        raw = np.array(img, dtype=np.float32)
    return tv_tensors.Mask(torch.from_numpy(raw / scale)[None])


def normalize(
    mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> v2.Compose:
    """uint8 image -> float in [0,1] -> (x - mean) / std; targets pass through unchanged."""
    return v2.Compose(
        [
            v2.ToDtype({tv_tensors.Image: torch.float32, "others": None}, scale=True),
            v2.Normalize(list(mean), list(std)),
        ]
    )


def seg_train_transform(
    crop_size: Sequence[int],
    base_size: int,
    scale_range: Sequence[float] = (0.5, 2.0),
    ignore_index: int = 255,
) -> v2.Compose:
    """mmseg-style train pipeline: short side to base_size * U(scale_range), pad, crop, flip."""
    lo, hi = (max(1, round(base_size * s)) for s in scale_range)
    return v2.Compose(
        [
            v2.RandomResize(lo, hi + 1),  # short side uniform in [lo, hi]; ratio kept
            v2.RandomCrop(
                list(crop_size),
                pad_if_needed=True,
                fill={tv_tensors.Image: 0, tv_tensors.Mask: ignore_index},
            ),
            v2.RandomHorizontalFlip(),
            normalize(),
        ]
    )


def seg_eval_transform(short_side: int | None) -> v2.Compose:
    """Resize (ratio kept) so the short side is `short_side`, long side at most 4x; None = as is."""
    ops: list[v2.Transform] = []
    if short_side:
        ops.append(v2.Resize(short_side, max_size=4 * short_side))
    return v2.Compose([*ops, normalize()])


def depth_train_transform(
    crop_size: Sequence[int], rotate_degrees: float = 0.0, color_jitter: float = 0.0
) -> v2.Compose:
    """BTS-style train pipeline: small rotation, random crop, flip, photometric jitter.

    Depth is never rescaled (a resize would change the metric scale); uncovered pixels get
    depth 0 (no ground truth).
    """
    fill = {tv_tensors.Image: 0, tv_tensors.Mask: 0}
    ops: list[v2.Transform] = []
    if rotate_degrees > 0:
        ops.append(v2.RandomRotation(rotate_degrees, fill=fill))
    ops += [
        v2.RandomCrop(list(crop_size), pad_if_needed=True, fill=fill),
        v2.RandomHorizontalFlip(),
    ]
    if color_jitter > 0:
        jitter = v2.ColorJitter(
            brightness=color_jitter, contrast=color_jitter, saturation=color_jitter
        )
        ops.append(v2.RandomApply([jitter], p=0.5))
    return v2.Compose([*ops, normalize()])


def kb_crop(
    image: tv_tensors.Image, depth: tv_tensors.Mask, height: int = 352, width: int = 1216
) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
    """KITTI benchmark crop: keep the bottom `height` rows and the centred `width` columns."""
    h, w = image.shape[-2:]
    top, left = h - height, (w - width) // 2
    if top < 0 or left < 0:
        raise ValueError(f"KB crop needs an image of at least {height}x{width}, got {h}x{w}")
    return F.crop(image, top, left, height, width), F.crop(depth, top, left, height, width)


def as_seg_batch_item(image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain tensors in the seg contract: float32 (3,H,W), int64 (H,W)."""
    return image.as_subclass(torch.Tensor), mask.as_subclass(torch.Tensor).long()


def as_depth_batch_item(
    image: torch.Tensor, depth: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain tensors in the depth contract: float32 (3,H,W), float32 (1,H,W)."""
    return image.as_subclass(torch.Tensor), depth.as_subclass(torch.Tensor).float()
