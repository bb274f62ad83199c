"""`toy_block`: BN(conv(B(x))) plus the input brought to the output's size and width."""

from __future__ import annotations

from torch import Tensor

from bnnbench.blocks.base import Block
from bnnbench.blocks.bypass import broadcast, match_spatial
from bnnbench.blocks.registry import BLOCKS


@BLOCKS.register("toy_block")
class ToyBlock(Block):
    """BN(conv(B(x))) + broadcast(AvgPool(stride)(x), C_out)."""

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn(self.conv(x))
        return out + broadcast(match_spatial(x, self.stride, out.shape[-2:]), self.out_channels)
