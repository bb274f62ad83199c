"""`cfb`: BiDense's BiDenseConv2d: binarize -> binary conv -> BN, plus the CFB bypass."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from bnnbench.blocks.base import Block, ConvSlot
from bnnbench.blocks.bypass import GROUPINGS, cfb, match_spatial
from bnnbench.blocks.registry import BLOCKS
from bnnbench.core.elementwise import channel_fusion, per_sample, pooled


@BLOCKS.register("cfb")
class CFBBlock(Block):
    """BN(conv(B(x))) + CFB(AvgPool2d(stride)(x), C_out) (BiDense Sec. 3.3, "Transition")."""

    def __init__(
        self,
        slot: ConvSlot,
        grouping: str = "interleaved",
    ) -> None:
        if grouping not in GROUPINGS:
            raise ValueError(f"cfb grouping must be one of {GROUPINGS}, got {grouping!r}")
        super().__init__(slot)
        self.grouping = grouping

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn(self.conv(x))
        bypass = match_spatial(x, self.stride, out.shape[-2:])
        return out + cfb(bypass, self.out_channels, self.grouping)

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """The bypass: AvgPool2d(stride), CFB's channel fusion, and the add to BN(conv)."""
        return (
            pooled(in_shape, self.stride)
            + channel_fusion(self.in_channels, self.out_channels, out_shape)
            + per_sample(out_shape)
        )

