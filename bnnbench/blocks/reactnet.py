"""`reactnet`: the ReActNet-A basic block (one MobileNetV1 layer: binary 3x3 then binary 1x1)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bnnbench.blocks.base import Block, make_conv
from bnnbench.blocks.bypass import match_spatial
from bnnbench.blocks.conv import BinarizerLike
from bnnbench.blocks.layers import activation, check_activation
from bnnbench.blocks.registry import BLOCKS


@BLOCKS.register("reactnet")
class ReActNetBlock(Block):
    """ReActNet-A block (Liu et al. 2020, Fig. 2 and the authors' code).

    o1 = act(BN(conv3x3_s(B(x))) + AvgPool2(x) if s == 2 else x), the 3x3 being C_in -> C_in;
    o2 = act(concat_i[BN_i(conv1x1_i(B(o1))) + o1]) with r = C_out / C_in point-wise convs
    C_in -> C_in (r = 2 is ReActNet's channel doubling; r = 1 a single conv + o1).
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
        if out_channels % in_channels:
            raise ValueError(
                f"reactnet needs out_channels to be a multiple of in_channels (channel doubling "
                f"by point-wise convs), got in={in_channels}, out={out_channels}"
            )
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, groups, binarizer, conv=False)
        self.conv = make_conv(in_channels, in_channels, kernel_size, stride, padding, groups, binarizer)
        self.bn = nn.BatchNorm2d(in_channels)
        self.act1 = activation(act, in_channels)
        r = out_channels // in_channels
        self.pw = nn.ModuleList(make_conv(in_channels, in_channels, 1, 1, 0, 1, binarizer) for _ in range(r))
        self.bn_pw = nn.ModuleList(nn.BatchNorm2d(in_channels) for _ in range(r))
        self.act2 = activation(act, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn(self.conv(x))
        o1 = self.act1(out + match_spatial(x, self.stride, out.shape[-2:]))
        o2 = [bn(conv(o1)) + o1 for conv, bn in zip(self.pw, self.bn_pw)]
        return self.act2(o2[0] if len(o2) == 1 else torch.cat(o2, 1))
