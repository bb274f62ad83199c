"""`reactnet`: the ReActNet-A basic block (one MobileNetV1 layer: binary 3x3 then binary 1x1)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from bnnbench.blocks.base import Block, make_conv
from bnnbench.blocks.bypass import cfb, match_spatial
from bnnbench.blocks.conv import BinarizerLike, BinaryConv2d
from bnnbench.blocks.layers import activation, check_activation
from bnnbench.blocks.registry import BLOCKS
from bnnbench.elementwise import channel_fusion, per_sample, pooled


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
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        binarizer: BinarizerLike = "fp",
        act: str = "rprelu",
    ) -> None:
        check_activation(act, "reactnet")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, groups, binarizer, conv=False)
        self.conv = make_conv(in_channels, in_channels, kernel_size, stride, padding, groups, binarizer)
        self.bn = nn.BatchNorm2d(in_channels)
        self.act1 = activation(act, in_channels)
        # doubling (an integer multiple): r convs C_in -> C_in; otherwise one conv + CFB bypass
        self.doubling = out_channels % in_channels == 0
        r, width = (out_channels // in_channels, in_channels) if self.doubling else (1, out_channels)
        self.pw = nn.ModuleList(make_conv(in_channels, width, 1, 1, 0, 1, binarizer) for _ in range(r))
        self.bn_pw = nn.ModuleList(nn.BatchNorm2d(width) for _ in range(r))
        share_activation_binarizer(self.pw)
        self.act2 = activation(act, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn(self.conv(x))
        o1 = self.act1(out + match_spatial(x, self.stride, out.shape[-2:]))
        if not self.doubling:
            return self.act2(self.bn_pw[0](self.pw[0](o1)) + cfb(o1, self.out_channels))
        o2 = [bn(conv(o1)) + o1 for conv, bn in zip(self.pw, self.bn_pw)]
        return self.act2(o2[0] if len(o2) == 1 else torch.cat(o2, 1))

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """AvgPool2d(stride) and the add of o1, then the adds of o2 (with CFB's fusion when
        the width is not a multiple); the RPReLUs declare theirs."""
        o1 = self.in_channels * math.prod(out_shape[2:])
        fusion = channel_fusion(self.in_channels, self.out_channels, out_shape)
        return pooled(in_shape, self.stride) + o1 + fusion + per_sample(out_shape)


def share_activation_binarizer(convs: nn.ModuleList) -> None:
    """Make every conv of `convs` use the first one's activation binarizer (same input)."""
    first = [m for m in convs[0].modules() if isinstance(m, BinaryConv2d)]
    for conv in convs[1:]:
        for mine, other in zip(first, (m for m in conv.modules() if isinstance(m, BinaryConv2d))):
            other.binarizer = mine.binarizer
