"""Generated detection: rectangles, ellipses and triangles drawn on crops of real photos, no download.

The photos are the two that ship with scikit-learn (`sklearn.datasets.load_sample_images`:
china.jpg, flower.jpg, 427x640). Training crops come from the left three quarters of each
photo and validation / test crops from the right quarter, so their backgrounds are held out;
both splits are fixed (their own seeds, whatever the run's seed) and disjoint. Each image holds 1-3 shapes of random
colour, 16-50% of the image side, placed so that they barely overlap; the class is the shape,
never the colour. A tenth of the boxes are flagged difficult (ignored by the VOC metric, kept
for training as BiDet does).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bnnbench.data import DATASETS
from bnnbench.data.detection import DetectionDataModule, Target, make_target
from bnnbench.data.generated import GeneratedDataset

CLASS_NAMES = ("rectangle", "ellipse", "triangle")
TEST_SEED = 2024  # the held-out test split does not move with the run's seed
TRAIN_PART = 0.75  # share of each photo's width that training crops come from
MAX_OVERLAP = 0.15  # largest share of a box another box may cover


@lru_cache(maxsize=1)
def photos() -> tuple[torch.Tensor, ...]:
    """scikit-learn's bundled photos as float (3, H, W) tensors in [0, 1]."""
    from sklearn.datasets import load_sample_images

    return tuple(torch.from_numpy(np.ascontiguousarray(im.transpose(2, 0, 1))).float() / 255 for im in load_sample_images().images)


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over the smaller box's area."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(iw * ih / smaller)


def shape_mask(kind: int, box: np.ndarray, y: np.ndarray, x: np.ndarray, flip: bool) -> np.ndarray:
    """Pixels (centres y, x) inside shape `kind` (1 rectangle, 2 ellipse, 3 triangle) filling `box`."""
    x1, y1, x2, y2 = box
    if kind == 1:
        return (x >= x1) & (x < x2) & (y >= y1) & (y < y2)
    cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
    if kind == 2:
        return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0
    # isosceles triangle, apex at the top (or bottom when flipped), base on the other side
    t = (y - y1) / (y2 - y1)
    t = 1.0 - t if flip else t
    return (t >= 0) & (t <= 1) & (np.abs(x - cx) <= rx * t)


@dataclass(frozen=True)
class DetRenderer:
    """Draws one (image, target) sample from a generator; `region` is the (start, end) share
    of the photo width that crops come from. Picklable for worker processes."""

    size: tuple[int, int]
    region: tuple[float, float]
    max_objects: int = 3
    difficult_rate: float = 0.1
    noise: float = 0.02

    def background(self, rng: np.random.Generator) -> torch.Tensor:
        """A random crop of a bundled photo inside `region`, resized to `size`."""
        photo = photos()[int(rng.integers(len(photos())))]
        ph, pw = photo.shape[-2:]
        h, w = self.size
        lo, hi = int(self.region[0] * pw), int(self.region[1] * pw)
        crop_w = int(rng.uniform(0.6, 1.0) * min(hi - lo, ph * w / h))
        crop_h = max(1, int(round(crop_w * h / w)))
        x0 = int(rng.integers(lo, hi - crop_w + 1))
        y0 = int(rng.integers(0, ph - crop_h + 1))
        crop = photo[:, y0 : y0 + crop_h, x0 : x0 + crop_w][None]
        return F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False, antialias=True)[0]

    def __call__(self, rng: np.random.Generator) -> tuple[torch.Tensor, Target]:
        h, w = self.size
        image = self.background(rng).numpy()
        y, x = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
        boxes: list[np.ndarray] = []
        labels, difficult = [], []
        for _ in range(int(rng.integers(1, self.max_objects + 1))):
            for _attempt in range(20):
                bw, bh = (rng.uniform(0.16, 0.5, 2) * np.array([w, h])).round()
                x1, y1 = rng.integers(0, w - bw + 1), rng.integers(0, h - bh + 1)
                box = np.array([x1, y1, x1 + bw, y1 + bh], dtype=np.float32)
                if all(_overlap(box, b) <= MAX_OVERLAP for b in boxes):
                    break
            else:
                continue  # no room left for another shape
            kind = int(rng.integers(1, len(CLASS_NAMES) + 1))
            inside = shape_mask(kind, box, y, x, flip=bool(rng.integers(2)))
            image[:, inside] = rng.uniform(0.0, 1.0, (3, 1))
            ys, xs = np.nonzero(inside)
            boxes.append(np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float32))
            labels.append(kind)
            difficult.append(bool(rng.random() < self.difficult_rate))
        image = np.clip(image + rng.normal(0, self.noise, image.shape), 0, 1).astype(np.float32)
        return torch.from_numpy(image), make_target(np.array(boxes).reshape(-1, 4), labels, difficult)


@DATASETS.register("gen_det")
class GenDetDataModule(DetectionDataModule):
    """Generated detection set (3 shape classes + background); fixed held-out val and test splits."""

    class_names = CLASS_NAMES
    num_classes = len(CLASS_NAMES) + 1

    loader_defaults = {"image_size": (128, 128)}

    def __init__(
        self,
        train_size: int = 256,
        val_size: int = 50,
        test_size: int = 100,
        max_objects: int = 3,
        difficult_rate: float = 0.1,
        **loader: Any,
    ) -> None:
        """`max_objects` shapes at most per image; `difficult_rate` of the boxes flagged difficult."""
        super().__init__(**loader)
        if min(self.image_size) < 16:
            raise ValueError(f"gen_det: image_size must be at least 16 px a side, got {list(self.image_size)}")
        if max_objects < 1 or not 0.0 <= difficult_rate <= 1.0:
            raise ValueError(f"gen_det: need max_objects >= 1 and difficult_rate in [0, 1], got {max_objects}, {difficult_rate}")
        self.train_size, self.val_size, self.test_size = train_size, val_size, test_size
        size = (int(self.image_size[0]), int(self.image_size[1]))
        self.train_renderer = DetRenderer(size, (0.0, TRAIN_PART), max_objects, difficult_rate)
        self.test_renderer = DetRenderer(size, (TRAIN_PART, 1.0), max_objects, difficult_rate)

    def setup(self, stage: str | None = None) -> None:
        """Create the lazily rendered splits once (rendered samples stay cached across stages)."""
        if self.train_set is None:
            self.train_set = GeneratedDataset(self.train_renderer, self.seed, "train", self.train_size)
            self.test_set = GeneratedDataset(self.test_renderer, TEST_SEED, "test", self.test_size)
            # model selection on its own held-out draws (another seed: disjoint from the test split)
            self.val_set = GeneratedDataset(self.test_renderer, TEST_SEED + 1, "test", self.val_size)
