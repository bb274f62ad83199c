"""Generated monocular depth: a textured ground plane, a far wall or sky, and boxes standing on it.

Depth cues a network can learn: the ground's depth falls off as 1 / (row - horizon)
(perspective); boxes stand on the ground, so their depth is the ground depth at their
bottom row and their size shrinks as 1 / depth; textures are laid out in metres, so they
look finer with distance; and haze (colour -> haze colour as exp(-depth / 6)) lowers
contrast and brightness differences with depth. No ground truth (0): sky, ground beyond
max_depth, a few random sensor dropouts and, now and then, a rectangular hole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bnnbench.data import DATASETS
from bnnbench.data.generated import GEN_MEAN, GEN_STD, GeneratedDataModule, box_downsample
from bnnbench.metrics import DepthMetrics

_SS = 3  # odd supersampling: the centre sub-sample of a pixel is the pixel centre
_HAZE_RANGE = 6.0  # metres; transmittance exp(-depth / _HAZE_RANGE)


@dataclass(frozen=True)
class DepthRenderer:
    """Draws one (image, depth) sample from a generator; picklable for worker processes."""

    size: tuple[int, int]
    max_depth: float = 10.0
    noise: float = 0.03
    dropout: float = 0.02

    def __call__(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = self.size
        y, x = np.mgrid[0 : h * _SS, 0 : w * _SS].astype(np.float64)
        y, x = (y + 0.5) / _SS, (x + 0.5) / _SS  # in output-pixel units
        focal, cx = 0.9 * w, w / 2 + rng.uniform(-0.1, 0.1) * w
        horizon = rng.uniform(0.3, 0.5) * h
        # ground depth = k / (row - horizon), 0.8-2 m at the bottom row
        k = rng.uniform(0.8, 2.0) * (h - horizon)
        cam_height = k / focal

        with np.errstate(divide="ignore"):
            depth = np.where(y > horizon, k / np.maximum(y - horizon, 1e-9), np.inf)
        albedo = np.empty((3, *y.shape))
        albedo[:] = _colour(rng, 0.35, 0.6)[:, None, None]
        ground = np.isfinite(depth)
        gd = depth[ground]
        gx = (x[ground] - cx) * gd / focal
        checker = (np.floor(gx / 0.5) + np.floor(gd / 0.5)) % 2  # 0.5 m tiles on the ground
        shade = np.ones_like(depth)
        shade[ground] = 0.65 + 0.35 * checker

        wall = rng.random() < 0.6
        wall_depth = rng.uniform(5.5, 0.95 * self.max_depth) if wall else np.inf
        if wall:
            behind = depth > wall_depth
            depth[behind] = wall_depth
            wy = (horizon - y) * wall_depth / focal + cam_height  # height above ground, metres
            wx = (x - cx) * wall_depth / focal
            course = np.floor(wy / 0.3)
            brick = ((wy % 0.3) > 0.04) & (((wx + 0.3 * (course % 2)) % 0.6) > 0.04)
            albedo[:, behind] = _colour(rng, 0.4, 0.8)[:, None]
            shade[behind] = np.where(brick[behind], 1.0, 0.55)

        far = min(wall_depth, self.max_depth)
        for _ in range(rng.integers(1, 5)):
            self._draw_box(rng, y, x, depth, albedo, shade, focal, cx, horizon, k, far)

        haze_colour = np.array([0.78, 0.8, 0.84]) + rng.uniform(-0.04, 0.04)
        sky = ~np.isfinite(depth)
        t = np.exp(-np.where(sky, 0.0, depth) / _HAZE_RANGE)
        image = albedo * shade * t + haze_colour[:, None, None] * (1 - t)
        sky_tint = np.array([0.85, 0.92, 1.05])[:, None]
        gradient = 0.95 + 0.1 * y[sky] / h  # brighter towards the horizon
        image[:, sky] = haze_colour[:, None] * sky_tint * gradient
        image = box_downsample(image, _SS) + rng.normal(0, self.noise, (3, h, w))

        c = _SS // 2
        gt = depth[c::_SS, c::_SS].copy()  # depth at pixel centres, not averaged across edges
        gt[~np.isfinite(gt) | (gt > self.max_depth)] = 0.0
        gt[rng.random((h, w)) < self.dropout] = 0.0
        if rng.random() < 0.3:  # a missing patch, as sensors leave on shiny or dark surfaces
            hh, ww = int(rng.integers(2, h // 5 + 3)), int(rng.integers(2, w // 5 + 3))
            top, left = int(rng.integers(0, h - hh + 1)), int(rng.integers(0, w - ww + 1))
            gt[top : top + hh, left : left + ww] = 0.0
        img = torch.from_numpy(((np.clip(image, 0, 1) - GEN_MEAN) / GEN_STD).astype(np.float32))
        return img, torch.from_numpy(gt.astype(np.float32))[None]

    def _draw_box(
        self,
        rng: np.random.Generator,
        y: np.ndarray,
        x: np.ndarray,
        depth: np.ndarray,
        albedo: np.ndarray,
        shade: np.ndarray,
        focal: float,
        cx: float,
        horizon: float,
        k: float,
        far: float,
    ) -> None:
        """A fronto-parallel box on the ground: depth = ground depth at its bottom row (z-buffered)."""
        near = k / (self.size[0] - horizon)
        d = rng.uniform(1.1 * near, 0.9 * far)
        bottom = horizon + k / d
        height, width = rng.uniform(0.4, 2.0) * focal / d, rng.uniform(0.3, 1.5) * focal / d
        centre = rng.uniform(0, self.size[1])
        hit = (y <= bottom) & (y > bottom - height) & (np.abs(x - centre) < width / 2) & (d < depth)
        depth[hit] = d
        albedo[:, hit] = _colour(rng, 0.2, 0.95)[:, None]
        stripe = ((x[hit] - cx) * d / focal / rng.uniform(0.1, 0.3)) % 2 < 1  # stripes in metres
        shade[hit] = np.where(stripe, 1.0, 0.6)


def _colour(rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    return rng.uniform(lo, hi, 3)


@DATASETS.register("gen_depth")
class GenDepthDataModule(GeneratedDataModule):
    """Generated depth set in metres (0 = no ground truth); a held-out test split of its own."""

    task = "depth"
    min_depth = 1e-3
    max_depth = 10.0
    eval_crop = None

    loader_defaults = {"batch_size": 16}

    def __init__(
        self,
        train_size: int = 256,
        val_size: int = 64,
        test_size: int | None = None,
        noise: float = 0.03,
        **loader: Any,
    ) -> None:
        """`noise` is the pixel noise std (pixels in [0, 1])."""
        super().__init__(**loader)
        self.train_size, self.val_size, self.test_size = train_size, val_size, test_size
        self.renderer = DepthRenderer(self.image_size, self.max_depth, noise)

    def constant_baseline(self, per_image: bool = True, split: str = "test") -> dict[str, float]:
        """Depth metrics on `split` of predicting the median train depth everywhere, scored by
        the depth task's DepthMetrics; per_image=False pools all pixels into one image."""
        self.setup()
        lo, hi = self.min_depth, self.max_depth
        train = torch.cat([d[(d > lo) & (d < hi)] for _, d in self.train_set])  # type: ignore[union-attr]
        median = float(np.clip(np.median(train.double().numpy()), lo, hi))
        gts = [d for _, d in getattr(self, f"{split}_set")]
        if not per_image:
            gts = [torch.cat([g.flatten() for g in gts])[None]]
        metric = DepthMetrics(lo, hi, self.eval_crop)
        for g in gts:
            metric.update(torch.full_like(g, median)[None], g[None])
        return {**{k: float(v) for k, v in metric.compute().items()}, "median": median}
