"""ImageNet-C corruptions of a test split's input images (Hendrycks & Dietterich 2019).

The corruptions themselves are `imagecorruptions-imaug` (PyPI), the maintained fork of the
reference `imagecorruptions` package (Michaelis et al. 2019, bethgelab/imagecorruptions): same
15 + 4 functions and severities, but it runs with current scikit-image and NumPy, and its glass
blur is compiled with numba (the reference's pure-Python loop takes seconds per image). Nothing
here re-implements a corruption.

What this module adds is the protocol around them: a test sample's input image (never its
target: masks, depths, boxes and HR images stay clean) is taken back to 8-bit pixels through the
data module's normalisation, corrupted, and normalised again; the random draws are seeded per
(seed, image index, corruption, severity), so a cell of the grid is the same images every time.
Severity 0 is the clean test itself (the split is not wrapped at all).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

# ImageNet-C's 15 corruptions in its four families, in the reference package's order
COMMON = (
    "gaussian_noise", "shot_noise", "impulse_noise",  # noise
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",  # blur
    "snow", "frost", "fog", "brightness",  # weather
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",  # digital
)
EXTRA = ("speckle_noise", "gaussian_blur", "spatter", "saturate")  # ImageNet-C's held-out four
SEVERITIES = (1, 2, 3, 4, 5)
MIN_SIZE = 32  # the package refuses smaller images (frost's crop, zoom blur)

Stats = tuple[Sequence[float], Sequence[float]]


@dataclass(frozen=True)
class Corruption:
    """One cell of the grid: a corruption at a severity, its draws seeded by `seed`."""

    name: str
    severity: int
    seed: int = 0

    @property
    def label(self) -> str:
        """`<name>/<severity>` (the key of the cell in summaries)."""
        return f"{self.name}/{self.severity}"

    def pixels(self, image: np.ndarray, index: int) -> np.ndarray:
        """Corrupt a uint8 (H, W, 3) image, the draws seeded by (seed, index, corruption, severity)."""
        from imagecorruptions import corrupt

        which = (COMMON + EXTRA).index(self.name)
        state = int(np.random.SeedSequence([self.seed, index, which, self.severity]).generate_state(1)[0])
        kwargs: dict[str, Any] = {"seed": state} if self.name == "glass_blur" else {}  # its own numba RNG
        saved = np.random.get_state()  # the package draws from NumPy's global generator
        np.random.seed(state)
        try:
            return corrupt(image, severity=self.severity, corruption_name=self.name, **kwargs)
        finally:
            np.random.set_state(saved)

    def image(self, image: Tensor, index: int, stats: Stats) -> Tensor:
        """A normalised float (C, H, W) image corrupted: to 8-bit pixels through `stats` (mean,
        std of the normalisation), corrupted, back to the same normalisation and dtype."""
        c, h, w = image.shape
        if min(h, w) < MIN_SIZE:
            raise ValueError(f"data.corruption: test images are {h}x{w}, the corruptions need at least "
                             f"{MIN_SIZE}x{MIN_SIZE} (set data.image_size)")
        mean, std = (torch.as_tensor(s, dtype=torch.float32).reshape(-1, 1, 1) for s in stats)
        pixels = ((image.float() * std + mean).clamp(0, 1) * 255).round().to(torch.uint8)
        rgb = pixels.expand(3, h, w) if c == 1 else pixels
        out = self.pixels(np.ascontiguousarray(rgb.permute(1, 2, 0).numpy()), index)
        back = torch.from_numpy(np.array(out, dtype=np.uint8)).permute(2, 0, 1).float() / 255
        if c == 1:  # a grey image stays grey (the package works on RGB)
            back = back.mean(0, keepdim=True)
        return ((back - mean) / std).to(image.dtype)


class CorruptedSet(Dataset):
    """A test split whose samples' input images (element 0) are corrupted; targets untouched."""

    def __init__(self, base: Dataset, corruption: Corruption, stats: Stats) -> None:
        self.base, self.corruption, self.stats = base, corruption, stats

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        image, *rest = self.base[index]
        return (self.corruption.image(image, index, self.stats), *rest)


def _names(corruption: str | Sequence[str]) -> list[str]:
    if isinstance(corruption, str):
        if corruption == "all":
            return list(COMMON)
        corruption = [c.strip() for c in corruption.split(",") if c.strip()]
    names = [str(c) for c in corruption]
    for name in names:
        if name not in COMMON + EXTRA:
            raise ValueError(f"data.corruption={name!r} is not a corruption: valid choices are all, "
                             f"{', '.join(COMMON + EXTRA)}")
    return names


def _severities(severity: int | Sequence[int] | None) -> list[int]:
    values = list(SEVERITIES) if severity is None else [severity] if isinstance(severity, int) else list(severity)
    for s in values:
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= 5:
            raise ValueError(f"data.severity={s!r} is not a severity: valid choices are 0 (clean) to 5, or null for 1-5")
    return values


def grid(corruption: str | Sequence[str] | None, severity: int | Sequence[int] | None = None,
         seed: int = 0) -> list[Corruption]:
    """The cells a test runs: each named corruption (`all`: ImageNet-C's 15) at each severity
    (null: 1 to 5); none when `corruption` is null. Severity 0 gives no cell (it is the clean test)."""
    if corruption is None or corruption == "none":
        return []
    names, severities = _names(corruption), _severities(severity)
    return [Corruption(n, s, seed) for n in names for s in severities if s > 0]


__all__ = ["COMMON", "EXTRA", "SEVERITIES", "Corruption", "CorruptedSet", "grid"]
