"""The diffusion timestep a denoising model is running at, published for timestep-aware layers.

A diffusion UNet sets it around its forward pass (`diffusion_timestep`); a binarizer or block
that depends on the timestep (BI-DiffSR's timestep-aware shift and activation) reads its group
with `timestep_group`. Neither knows the other, nor the model: this module is all they share.
Outside any `diffusion_timestep` context (a classifier, a detector) every such layer is in
group 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
from torch import Tensor

# (t per sample (N,) or (1,), the schedule's number of training timesteps T)
_TIMESTEP: ContextVar[tuple[Tensor, int] | None] = ContextVar("diffusion_timestep", default=None)


@contextmanager
def diffusion_timestep(t: Tensor, num_train_timesteps: int) -> Iterator[None]:
    """Within the context, timestep-aware layers run at timestep `t` ((N,) or a scalar) of a
    schedule of `num_train_timesteps` steps."""
    if num_train_timesteps < 1:
        raise ValueError(f"num_train_timesteps must be >= 1, got {num_train_timesteps}")
    t = torch.as_tensor(t).reshape(-1)
    token = _TIMESTEP.set((t, int(num_train_timesteps)))
    try:
        yield
    finally:
        _TIMESTEP.reset(token)


def group_of(t: Tensor, num_train_timesteps: int, num_groups: int) -> Tensor:
    """The group of each timestep, clamp(floor(t K / T), 0, K - 1): K equal spans of the
    schedule (BI-DiffSR, Chen et al. 2024; zhengchen1999/BI-DiffSR@b95eb3a,
    `BIDiffSRUNet.forward`)."""
    g = torch.div(t.long() * num_groups, num_train_timesteps, rounding_mode="floor")
    return g.clamp(0, num_groups - 1)


def timestep_group(num_groups: int, device: torch.device | None = None) -> Tensor:
    """The group (long tensor (N,) or (1,)) of the current timestep among `num_groups`; group 0
    outside a `diffusion_timestep` context."""
    if num_groups < 1:
        raise ValueError(f"num_groups must be >= 1, got {num_groups}")
    current = _TIMESTEP.get()
    if current is None:
        return torch.zeros(1, dtype=torch.long, device=device)
    t, total = current
    return group_of(t.to(device) if device is not None else t, total, num_groups)


__all__ = ["diffusion_timestep", "group_of", "timestep_group"]
