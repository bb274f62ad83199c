"""A generated classification set: ten shape/texture classes in random colours with clutter.

Every image is drawn from its own generator seeded by (seed, split, index), so a sample is the
same whichever worker, order or process draws it, and no global RNG state is touched.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.utils.data import Dataset

from bnnbench.data import DATASETS
from bnnbench.data.cls_base import ClsDataModule, Stats

CLASSES = (
    "disk",
    "square",
    "triangle",
    "plus",
    "ring",
    "frame",
    "horizontal_stripes",
    "vertical_stripes",
    "diagonal_stripes",
    "checkerboard",
)
SPLITS = {"train": 0, "val": 1, "test": 2}


def _uniform(g: torch.Generator, low: float, high: float, *shape: int) -> torch.Tensor:
    return torch.rand(shape or (1,), generator=g) * (high - low) + low


def _luminance(rgb: torch.Tensor) -> float:
    return float(rgb[0] * 0.299 + rgb[1] * 0.587 + rgb[2] * 0.114)


def _colours(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Background and object colours; colour carries no class information, only contrast."""
    bg = torch.rand(3, generator=g)
    for _ in range(16):
        fg = torch.rand(3, generator=g)
        if abs(_luminance(fg) - _luminance(bg)) > 0.25:
            return bg, fg
    return bg, 1.0 - bg


def _signed_distance(
    label: int, u: torch.Tensor, v: torch.Tensor, r: float, phase: float
) -> torch.Tensor:
    """Approximate signed distance (> 0 inside) of the class shape in object coordinates."""
    radius = torch.sqrt(u * u + v * v)
    box = torch.maximum(u.abs(), v.abs())
    period = 0.55 * r
    k = 2 * math.pi / period

    def stripes(t: torch.Tensor) -> torch.Tensor:
        # a sine scaled to distance units: zero crossings are the stripe edges
        return torch.sin(t * k + phase) / k

    patch = 0.85 * r - box
    if label == 0:
        return r - radius
    if label == 1:
        return 0.8 * r - box
    if label == 2:
        inradius = 0.5 * r
        normals = [(math.cos(a), math.sin(a)) for a in (math.pi / 2, math.pi * 7 / 6, -math.pi / 6)]
        return inradius - torch.stack([u * nx + v * ny for nx, ny in normals]).amax(0)
    if label == 3:
        w = 0.28 * r
        return torch.maximum(
            torch.minimum(w - u.abs(), r - v.abs()), torch.minimum(w - v.abs(), r - u.abs())
        )
    if label == 4:
        return 0.2 * r - (radius - 0.75 * r).abs()
    if label == 5:
        return 0.16 * r - (box - 0.72 * r).abs()
    if label == 6:
        return torch.minimum(patch, stripes(v))
    if label == 7:
        return torch.minimum(patch, stripes(u))
    if label == 8:
        return torch.minimum(patch, stripes((u + v) / math.sqrt(2)))
    if label == 9:
        return torch.minimum(patch, torch.sin(u * k + phase) * torch.sin(v * k) / k)
    raise ValueError(f"gen_cls: no class {label}")


def render(label: int, g: torch.Generator, size: tuple[int, int]) -> torch.Tensor:
    """One image (3, H, W) in [0, 1] of class `label`, drawn entirely from generator `g`."""
    h, w = size
    pixel = 2.0 / min(h, w)  # one pixel in the [-1, 1] image coordinates
    ys = (torch.arange(h) + 0.5) / h * 2 - 1
    xs = (torch.arange(w) + 0.5) / w * 2 - 1
    y, x = torch.meshgrid(ys, xs, indexing="ij")

    bg, fg = _colours(g)
    tilt = _uniform(g, -0.2, 0.2, 2)
    image = bg.view(3, 1, 1) + (tilt[0] * x + tilt[1] * y) * 0.5  # smooth shading

    # distractors: small blobs of random colour anywhere, drawn under the object
    for _ in range(int(torch.randint(1, 4, (1,), generator=g))):
        cx, cy, half = _uniform(g, -0.9, 0.9, 2).tolist() + [float(_uniform(g, 0.06, 0.14))]
        blob = ((x - cx).abs() < half) & ((y - cy).abs() < half)
        image = torch.where(blob, torch.rand(3, 1, 1, generator=g), image)

    cx, cy = _uniform(g, -0.3, 0.3, 2).tolist()
    r = float(_uniform(g, 0.42, 0.6))
    angle = float(_uniform(g, -0.3, 0.3))  # small, so the stripe orientations stay distinct
    cos, sin = math.cos(angle), math.sin(angle)
    u = (x - cx) * cos + (y - cy) * sin
    v = -(x - cx) * sin + (y - cy) * cos
    phase = float(_uniform(g, 0.0, 2 * math.pi))
    alpha = (_signed_distance(label, u, v, r, phase) / pixel + 0.5).clamp(0, 1)  # 1 px antialias
    image = image * (1 - alpha) + fg.view(3, 1, 1) * alpha

    noise = float(_uniform(g, 0.02, 0.08))
    image = image + torch.randn(image.shape, generator=g) * noise
    return image.clamp_(0, 1)


class GeneratedClsDataset(Dataset):
    """`length` samples with balanced labels (index % num_classes), rendered on access."""

    def __init__(
        self,
        length: int,
        num_classes: int,
        size: tuple[int, int],
        seed: int,
        split: str,
        stats: Stats | None,
    ) -> None:
        self.length = length
        self.num_classes = num_classes
        self.size = size
        self.base_seed = (seed * 1_000_003 + SPLITS[split]) * 10_000_019
        self.mean = torch.tensor(stats[0]).view(3, 1, 1) if stats else None
        self.std = torch.tensor(stats[1]).view(3, 1, 1) if stats else None

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        label = index % self.num_classes
        g = torch.Generator().manual_seed((self.base_seed + index) % (2**63))
        image = render(label, g, self.size)
        if self.mean is not None:
            image = (image - self.mean) / self.std
        return image, torch.tensor(label, dtype=torch.long)


@DATASETS.register("gen_cls")
class GeneratedClsDataModule(ClsDataModule):
    """Generated shapes/textures classification; needs no files, same data for the same seed."""

    stats: Stats = ((0.5, 0.5, 0.5), (0.29, 0.29, 0.29))  # measured on the train split

    loader_defaults = {"batch_size": 64, "image_size": (32, 32)}

    def __init__(
        self,
        normalize: bool = True,
        train_size: int = 2000,
        val_size: int = 500,
        test_size: int = 500,
        num_classes: int = 10,
        **loader: Any,
    ) -> None:
        super().__init__(normalize, augment=False, **loader)
        if not 2 <= num_classes <= len(CLASSES):
            raise ValueError(
                f"gen_cls: num_classes must lie in 2..{len(CLASSES)}, got {num_classes}"
            )
        self.num_classes = num_classes
        self.class_names = list(CLASSES[:num_classes])
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}

    def _split(self, split: str) -> GeneratedClsDataset:
        return GeneratedClsDataset(
            self.sizes[split],
            self.num_classes,
            self.image_size,
            self.seed,
            split,
            self.stats if self.normalize else None,
        )

    def setup(self, stage: str | None = None) -> None:
        """Create the three splits (images are rendered lazily, a fraction of a ms each)."""
        if self.train_set is not None:
            return
        self.train_set = self._split("train")
        self.val_set = self._split("val")
        self.test_set = self._split("test") if self.sizes["test"] > 0 else self.val_set
