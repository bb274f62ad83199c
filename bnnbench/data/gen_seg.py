"""Generated segmentation: textured shapes of several classes on a noisy background, no download.

A pixel's class is told by its neighbourhood: each object class has its own hue and stripe
orientation/period (jittered per object), drawn under pixel noise on a blotchy background
of muted colours. Shapes (disc, rotated rectangle, triangle) are drawn independently of the
class, so the shape alone does not give it away. Rendering is 4x supersampled; pixels that
straddle two classes are labelled 255 (ignore), like VOC's object borders.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bnnbench.data import DATASETS
from bnnbench.data.generated import GEN_MEAN, GEN_STD, GeneratedDataModule, box_downsample
from bnnbench.metrics import segmentation_metrics

_SS = 4  # supersampling factor


def _inside_shape(
    rng: np.random.Generator, y: np.ndarray, x: np.ndarray, h: int, w: int
) -> np.ndarray:
    """Boolean mask of one random disc/ellipse, rotated rectangle or triangle."""
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    r = rng.uniform(0.08, 0.25) * min(h, w)
    theta = rng.uniform(0, np.pi)
    u = (x - cx) * np.cos(theta) + (y - cy) * np.sin(theta)
    v = -(x - cx) * np.sin(theta) + (y - cy) * np.cos(theta)
    kind = rng.integers(3)
    aspect = rng.uniform(0.6, 1.6)
    if kind == 0:
        return (u * aspect) ** 2 + (v / aspect) ** 2 < r**2
    if kind == 1:
        return (np.abs(u) < r * aspect) & (np.abs(v) < r / aspect)
    angles = theta + np.array([0.0, 2.0, 4.0]) * np.pi / 3 + rng.uniform(-0.3, 0.3, 3)
    vy, vx = cy + 1.3 * r * np.sin(angles), cx + 1.3 * r * np.cos(angles)
    sides = [
        (vx[(i + 1) % 3] - vx[i]) * (y - vy[i]) - (vy[(i + 1) % 3] - vy[i]) * (x - vx[i])
        for i in range(3)
    ]
    # inside = on the same side of all three edges (whatever the winding order)
    return ((sides[0] > 0) & (sides[1] > 0) & (sides[2] > 0)) | (
        (sides[0] < 0) & (sides[1] < 0) & (sides[2] < 0)
    )


@dataclass(frozen=True)
class SegRenderer:
    """Draws one (image, mask) sample from a generator; picklable for worker processes."""

    size: tuple[int, int]
    num_classes: int
    noise: float = 0.08

    def class_style(self, c: int) -> tuple[np.ndarray, float, float]:
        """Object class c >= 1: (RGB colour, stripe angle, stripe period in pixels)."""
        k = self.num_classes - 1
        colour = np.array(colorsys.hsv_to_rgb((c - 1) / k, 0.6, 0.85))
        return colour, np.pi * (c - 1) / k, 3.0 + (c - 1) % 3

    def __call__(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = self.size
        y, x = np.mgrid[0 : h * _SS, 0 : w * _SS].astype(np.float32)
        y, x = (y + 0.5) / _SS, (x + 0.5) / _SS  # in output-pixel units
        labels = np.zeros((h * _SS, w * _SS), dtype=np.uint8)
        image = self._background(rng, h, w)
        for _ in range(rng.integers(3, 8)):
            c = int(rng.integers(1, self.num_classes))
            inside = _inside_shape(rng, y, x, h, w)
            colour, angle, period = self.class_style(c)
            colour = np.clip(colour + rng.normal(0, 0.05, 3), 0, 1) * rng.uniform(0.85, 1.1)
            angle += rng.normal(0, 0.1)
            yi, xi = y[inside], x[inside]
            offset = rng.uniform(0, 2 * np.pi)
            phase = (xi * np.cos(angle) + yi * np.sin(angle)) * (2 * np.pi / period) + offset
            image[:, inside] = colour[:, None] * (0.75 + 0.25 * np.sin(phase))[None]
            labels[inside] = c
        image = box_downsample(image, _SS) + rng.normal(0, self.noise, (3, h, w))
        blocks = labels.reshape(h, _SS, w, _SS)
        lo, hi = blocks.min(axis=(1, 3)), blocks.max(axis=(1, 3))
        mask = np.where(lo == hi, lo, 255)  # pixels covered by two classes are ignored
        img = torch.from_numpy(((np.clip(image, 0, 1) - GEN_MEAN) / GEN_STD).astype(np.float32))
        return img, torch.from_numpy(mask.astype(np.int64))

    def _background(self, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
        """Muted low-frequency colour blotches on the supersampled grid."""
        coarse = torch.from_numpy(rng.uniform(0.3, 0.7, (1, 3, 5, 5)).astype(np.float32))
        grey = coarse.mean(1, keepdim=True)
        coarse = grey + 0.4 * (coarse - grey)  # low saturation, so objects stand out by hue
        smooth = torch.nn.functional.interpolate(
            coarse, size=(h, w), mode="bicubic", align_corners=False
        )
        return np.repeat(np.repeat(smooth[0].numpy(), _SS, axis=1), _SS, axis=2)


@DATASETS.register("gen_seg")
class GenSegDataModule(GeneratedDataModule):
    """Generated segmentation set; class 0 = background; a held-out test split of its own."""

    task = "seg"
    ignore_index = 255

    loader_defaults = {"batch_size": 16}

    def __init__(
        self,
        num_classes: int = 6,
        train_size: int = 256,
        val_size: int = 64,
        test_size: int | None = None,
        noise: float = 0.08,
        **loader: Any,
    ) -> None:
        """`num_classes` counts the background; `noise` is the pixel noise std (pixels in [0, 1])."""
        super().__init__(**loader)
        if num_classes < 2:
            raise ValueError(f"gen_seg: num_classes must be >= 2, got {num_classes}")
        self.num_classes = num_classes
        self.train_size, self.val_size, self.test_size = train_size, val_size, test_size
        self.renderer = SegRenderer(self.image_size, num_classes, noise)

    def constant_baseline(self, split: str = "test") -> dict[str, float]:
        """mIoU / pixel accuracy on `split` of predicting the train majority class at every pixel,
        scored by the same metrics as the segmentation task (bnnbench.metrics)."""
        self.setup()
        k = self.num_classes
        train_counts = sum(torch.bincount(m[m < k], minlength=k) for _, m in self.train_set)  # type: ignore[union-attr]
        majority = int(torch.argmax(train_counts))
        metrics = segmentation_metrics(k, self.ignore_index)
        for _, mask in getattr(self, f"{split}_set"):
            metrics.update(torch.full_like(mask, majority)[None], mask[None])
        scores = metrics.compute()
        return {
            "miou": float(scores["mIoU"]),
            "pixel_acc": float(scores["pixel_acc"]),
            "majority_class": majority,
        }
