"""`bidiffsr`: BI-DiffSR's binary conv unit (BIConv): TaA_g(conv(B(x))) + x, no BN."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bnnbench.blocks.base import Block, ConvSlot
from bnnbench.blocks.bypass import cfb, match_spatial
from bnnbench.blocks.registry import BLOCKS
from bnnbench.core.elementwise import channel_fusion, per_sample, pooled
from bnnbench.core.timestep import timestep_group

DEFAULT_GROUPS = 5  # BI-DiffSR's K (`dynamic_group`)


class GroupRPReLU(nn.Module):
    """RPReLU (ReActNet Eq. 3) with its own gamma, beta, zeta for each timestep group:
    (x - gamma_g) if x > gamma_g else beta_g (x - gamma_g), then + zeta_g, per channel.

    BI-DiffSR's timestep-aware activation (TaA, the authors' `BIConv.TaA`). Init gamma 0, beta 0.25, zeta 0 (the
    authors' bias -> PReLU -> bias). Stored flat (K * C,) so the optimizer applies no decay, as to
    any per-channel activation parameter.
    """

    def __init__(self, channels: int, groups: int = DEFAULT_GROUPS) -> None:
        super().__init__()
        if not isinstance(groups, int) or groups < 1:
            raise ValueError(f"timestep_groups must be an integer >= 1, got {groups!r}")
        self.channels, self.groups = channels, groups
        self.gamma = nn.Parameter(torch.zeros(groups * channels))
        self.beta = nn.Parameter(torch.full((groups * channels,), 0.25))
        self.zeta = nn.Parameter(torch.zeros(groups * channels))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, timestep_groups={self.groups}"

    def _pick(self, p: Tensor, g: Tensor) -> Tensor:
        return p.view(self.groups, self.channels)[g][:, :, None, None]

    def forward(self, x: Tensor) -> Tensor:
        g = timestep_group(self.groups, x.device)
        if g.numel() == 1 or bool((g == g[0]).all()):  # one group for the batch: torch's fused PReLU
            k = int(g[0])
            c = slice(k * self.channels, (k + 1) * self.channels)
            v = x - self.gamma[c][None, :, None, None]
            return F.prelu(v, self.beta[c]) + self.zeta[c][None, :, None, None]
        v = x - self._pick(self.gamma, g)
        return torch.where(v > 0, v, self._pick(self.beta, g) * v) + self._pick(self.zeta, g)

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """Subtract, PReLU (compare-and-select, multiply), add: four per element."""
        return 4 * per_sample(out_shape)


@BLOCKS.register("bidiffsr")
class BIDiffSRBlock(Block):
    """BI-DiffSR's binary unit BIConv: TaA_g(conv(B(x))) + x, no BN, TaA_g an RPReLU per group.

    Chen et al. 2024; zhengchen1999/BI-DiffSR@b95eb3a, unet_BI_DiffSR_arch.py (`BIConv`). The
    timestep group g is read from `bnnbench.core.timestep` (group 0 outside a diffusion model). The
    activation binarizer is any bnnbench binarizer (`bidiffsr` adds the per-group shift TaR).
    Where the slot changes the
    stride or the width (not in BI-DiffSR's UNet, whose BIConvs keep both) the bypass is
    AvgPool2d(stride) and BiDense's parameter-free CFB, as in the ReActNet block.
    """

    def __init__(
        self,
        slot: ConvSlot,
        timestep_groups: int = DEFAULT_GROUPS,
    ) -> None:
        in_channels, out_channels, kernel_size, stride, padding, groups, binarizer = slot
        super().__init__(slot, conv=False)
        self.conv = slot.conv_factory(in_channels, out_channels, kernel_size, stride, padding, groups, binarizer)
        self.act = GroupRPReLU(out_channels, timestep_groups)

    def forward(self, x: Tensor) -> Tensor:
        out = self.act(self.conv(x))
        return out + cfb(match_spatial(x, self.stride, out.shape[-2:]), self.out_channels)

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """The bypass: AvgPool2d(stride), CFB's fusion when the width changes, and the add."""
        fusion = channel_fusion(self.in_channels, self.out_channels, out_shape)
        return pooled(in_shape, self.stride) + fusion + per_sample(out_shape)


__all__ = ["BIDiffSRBlock", "GroupRPReLU"]
