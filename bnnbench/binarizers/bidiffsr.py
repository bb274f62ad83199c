"""`bidiffsr` (Chen et al. 2024, BI-DiffSR): sign(x - b_g), one learnable shift per timestep group."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from bnnbench.binarizers.base import ActivationBinarizer
from bnnbench.binarizers.registry import BINARIZERS
from bnnbench.binarizers.ste import approx_sign
from bnnbench.core.codes import ActivationCode
from bnnbench.core.elementwise import per_sample
from bnnbench.core.thresholds import exact_thresholds
from bnnbench.core.timestep import timestep_group

DEFAULT_GROUPS = 5  # BI-DiffSR's K (`dynamic_group`)


@BINARIZERS.register("bidiffsr")
class TimestepAwareSign(ActivationBinarizer):
    """BI-DiffSR's timestep-aware redistribution (TaR): sign(x - b_g) with ApproxSign.

    b_g is a learnable per-channel shift (init 0) for each of `timestep_groups` = K groups of
    the diffusion timesteps; g is read from `bnnbench.core.timestep` (the UNet publishes its timestep,
    group 0 outside a diffusion model). Weights mean|W| sign(W) with the clipped STE, as the
    authors' `HardBinaryConv` (zhengchen1999/BI-DiffSR@b95eb3a, unet_BI_DiffSR_arch.py). The
    shifts are stored flat (K * C,) so that the optimizer treats them as the per-channel
    thresholds they are (no weight decay).
    """

    weight = "meanabs"

    def __init__(self, channels: int, timestep_groups: int = DEFAULT_GROUPS) -> None:
        super().__init__(channels)
        if not isinstance(timestep_groups, int) or timestep_groups < 1:
            raise ValueError(f"bidiffsr timestep_groups must be an integer >= 1, got {timestep_groups!r}")
        self.timestep_groups = timestep_groups
        self.shift = nn.Parameter(torch.zeros(timestep_groups * channels))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, timestep_groups={self.timestep_groups}"

    def shifts(self) -> Tensor:
        """b_g of the current timestep group, (N or 1, C, 1, 1)."""
        g = timestep_group(self.timestep_groups, self.shift.device)
        return self.shift.view(self.timestep_groups, self.channels)[g][:, :, None, None]

    def forward(self, x: Tensor) -> Tensor:
        return approx_sign(x - self.shifts())

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """One subtraction per element (x - b_g)."""
        return per_sample(in_shape)

    @torch.no_grad()
    def export_code(self) -> ActivationCode:
        """Bits x - b_g >= 0 (training's expression), levels +-1: one exact threshold per group
        and channel, picked at run time by the timestep group (`GroupThresholds`)."""
        shifts = self.shift.detach().float().cpu().view(self.timestep_groups, 1, self.channels, 1, 1)
        per_group = [exact_thresholds(lambda t, b=b: (t.reshape(b.shape) - b >= 0).reshape(-1), self.channels)
                     for b in shifts]
        thresholds = torch.stack([t for t, _ in per_group])
        flip = per_group[0][1]  # x - b >= 0 is increasing in x: no channel flips
        return ActivationCode(thresholds[0], flip, 1.0, 0.0, stats=GroupThresholds(thresholds))


class GroupThresholds(nn.Module):
    """Exported thresholds of a timestep-aware sign: (N, C) thresholds of the current timestep
    group at run time, in the place of run-time statistics (`bnnbench.core.codes`)."""

    runtime_threshold = True
    runtime_scale = False
    threshold_mode = "timestep_group"
    scale_mode = "none"

    def __init__(self, thresholds: Tensor) -> None:
        super().__init__()
        self.register_buffer("thresholds", thresholds)  # (K, C)

    def forward(self, x: Tensor) -> tuple[Tensor, None]:
        """(thresholds (N, C), no scale)."""
        g = timestep_group(self.thresholds.shape[0], x.device)
        return self.thresholds[g].expand(x.shape[0], -1), None


__all__ = ["GroupThresholds", "TimestepAwareSign"]
