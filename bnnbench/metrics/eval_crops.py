"""Named evaluation crops of monocular-depth benchmarks (Eigen NYU, Garg and Eigen KITTI)."""

from __future__ import annotations

import torch

EVAL_CROPS: tuple[str, ...] = ("eigen_nyu", "garg", "eigen_kitti")


def check_eval_crop(name: str | None) -> str | None:
    """Return `name` if it is None or a known crop, else raise naming the valid choices."""
    if name is None or name in EVAL_CROPS:
        return name
    raise ValueError(
        f"unknown eval crop {name!r}: valid choices are {', '.join(EVAL_CROPS)} or None"
    )


def crop_box(name: str, height: int, width: int) -> tuple[int, int, int, int]:
    """The crop as (top, bottom, left, right), end-exclusive, for an image of the given size."""
    h, w = height, width
    if name == "eigen_nyu":
        # Eigen et al. 2014 crop, defined on 480x640; integer arithmetic keeps it exact there
        # and scales it proportionally for other sizes.
        return 45 * h // 480, 471 * h // 480, 41 * w // 640, 601 * w // 640
    if name == "garg":
        # Garg et al. 2016, fractions as in the BTS / Monodepth evaluation code.
        return int(0.40810811 * h), int(0.99189189 * h), int(0.03594771 * w), int(0.96405229 * w)
    if name == "eigen_kitti":
        return int(0.3324324 * h), int(0.91351351 * h), int(0.0359477 * w), int(0.96405229 * w)
    check_eval_crop(name)
    raise AssertionError("unreachable")  # pragma: no cover


def eval_crop_mask(
    name: str | None, height: int, width: int, device: torch.device | str | None = None
) -> torch.Tensor:
    """Boolean (H, W) mask that is True inside the named crop (everywhere when `name` is None)."""
    if name is None:
        return torch.ones(height, width, dtype=torch.bool, device=device)
    top, bottom, left, right = crop_box(name, height, width)
    mask = torch.zeros(height, width, dtype=torch.bool, device=device)
    mask[top:bottom, left:right] = True
    return mask
