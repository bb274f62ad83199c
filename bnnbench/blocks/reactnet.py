"""`reactnet`: the ReActNet-A basic block (one MobileNetV1 layer: binary 3x3 then binary 1x1)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from bnnbench.blocks.activations import activation, check_activation
from bnnbench.blocks.base import Block, ConvSlot
from bnnbench.blocks.bypass import broadcast, cfb, match_spatial
from bnnbench.blocks.conv import BinaryConv2d
from bnnbench.blocks.registry import BLOCKS
from bnnbench.core.elementwise import channel_fusion, pooled


@BLOCKS.register("reactnet")
class ReActNetBlock(Block):
    """ReActNet-A block (Liu et al. 2020, Fig. 2 and the authors' code).

    o1 = act(BN(conv3x3_s(B(x))) + AvgPool2(x) if s == 2 else x), the 3x3 being C_in -> C_in;
    o2 = act(concat_i[BN_i(conv1x1_i(B(o1))) + o1]) with r = C_out / C_in point-wise convs
    C_in -> C_in (r = 2 is ReActNet's channel doubling; r = 1 a single conv + o1). The r convs
    share one activation binarizer, as the authors' code binarizes o1 once (one `move21`
    threshold for both halves). Other widths (a reduction, or a ratio that is not an integer):
    o2 = act(BN(conv1x1(B(o1))) + CFB(o1, C_out)), the reducing counterpart of the doubling,
    whose bypass averages groups of o1's channels (BiDense's CFB, Eq. 11).
    `act` is RPReLU in ReActNet, Maxout in AdaBin.

    `br` (BD-Net's broadcast residual, Kim et al. 2025, Tables 4-5): None keeps the bypasses
    above; True makes every residual across a width change o1 broadcast (tiled cyclically,
    `bypass.broadcast`) to the output width; False drops the residual where the width changes
    (plain ReActNet on layouts whose widths vary, the "ReActNet" rows of those tables).
    `separable=False`: the block is one conv C_in -> C_out (kernel, stride and groups of the
    slot) with its residual, act(BN(conv(B(x))) + bypass(x)): how ReActNet's unit is applied
    to every conv of a network that has its own point-wise convs (ShuffleNet V1, MobileNet V3).
    """

    def __init__(
        self,
        slot: ConvSlot,
        act: str = "rprelu",
        br: bool | None = None,
        separable: bool = True,
    ) -> None:
        in_channels, out_channels, kernel_size, stride, padding, groups, binarizer = slot
        check_activation(act, "reactnet")
        if br not in (None, True, False):
            raise ValueError(f"reactnet br must be one of (None, True, False), got {br!r}")
        super().__init__(slot, conv=False)
        self.br, self.separable = br, separable
        mid = in_channels if separable else out_channels
        self.conv = slot.conv_factory(in_channels, mid, kernel_size, stride, padding, groups, binarizer)
        self.bn = nn.BatchNorm2d(mid)
        self.act1 = activation(act, mid)
        if not separable:
            return
        # doubling (an integer multiple): r convs C_in -> C_in; otherwise one conv + CFB bypass
        self.doubling = out_channels % in_channels == 0 and br is not False
        r, width = (out_channels // in_channels, in_channels) if self.doubling else (1, out_channels)
        self.pw = nn.ModuleList(slot.conv_factory(in_channels, width, 1, 1, 0, 1, binarizer) for _ in range(r))
        self.bn_pw = nn.ModuleList(nn.BatchNorm2d(width) for _ in range(r))
        share_activation_binarizer(self.pw)
        self.act2 = activation(act, out_channels)

    def bypass(self, x: Tensor, out_channels: int) -> Tensor | None:
        """The residual of a conv to `out_channels` (x already at the output's size): x itself,
        or across a width change CFB (br None), a broadcast (br True) or none (br False)."""
        if x.shape[1] == out_channels:
            return x
        if self.br is None:
            return cfb(x, out_channels)
        return broadcast(x, out_channels) if self.br else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn(self.conv(x))
        shortcut = self.bypass(match_spatial(x, self.stride, out.shape[-2:]), out.shape[1])
        o1 = self.act1(out if shortcut is None else out + shortcut)
        if not self.separable:
            return o1
        if not self.doubling:
            shortcut = self.bypass(o1, self.out_channels)
            o2 = self.bn_pw[0](self.pw[0](o1))
            return self.act2(o2 if shortcut is None else o2 + shortcut)
        o2 = [bn(conv(o1)) + o1 for conv, bn in zip(self.pw, self.bn_pw)]
        return self.act2(o2[0] if len(o2) == 1 else torch.cat(o2, 1))

    def _bypass_ops(self, cin: int, cout: int, out_shape: Sequence[int]) -> int:
        """The add of a residual to `cout` channels (CFB's fusion too), 0 when there is none."""
        if cin != cout and self.br is False:
            return 0
        fusion = channel_fusion(cin, cout, out_shape) if cin != cout and self.br is None else 0
        return fusion + cout * math.prod(out_shape[2:])

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """AvgPool2d(stride) and the add of o1, then the adds of o2 (with CFB's fusion when
        the width is not a multiple, none without a residual); the RPReLUs declare theirs."""
        mid = self.in_channels if self.separable else self.out_channels
        ops = pooled(in_shape, self.stride) + self._bypass_ops(self.in_channels, mid, out_shape)
        if self.separable:
            ops += self._bypass_ops(self.in_channels, self.out_channels, out_shape)
        return ops


def share_activation_binarizer(convs: nn.ModuleList) -> None:
    """Make every conv of `convs` use the first one's activation binarizer (same input)."""
    first = [m for m in convs[0].modules() if isinstance(m, BinaryConv2d)]
    for conv in convs[1:]:
        for mine, other in zip(first, (m for m in conv.modules() if isinstance(m, BinaryConv2d))):
            other.binarizer = mine.binarizer
