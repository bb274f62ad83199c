"""`cfb`: BiDense's BiDenseConv2d: binarize -> binary conv -> BN, plus the CFB bypass."""

from __future__ import annotations

from torch import Tensor

from bnnbench.blocks.base import Block
from bnnbench.blocks.bypass import GROUPINGS, cfb, match_spatial
from bnnbench.blocks.conv import BinarizerLike
from bnnbench.blocks.registry import BLOCKS


@BLOCKS.register("cfb")
class CFBBlock(Block):
    """BN(conv(B(x))) + CFB(AvgPool2d(stride)(x), C_out) (BiDense Sec. 3.3, "Transition")."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        binarizer: BinarizerLike = "fp",
        grouping: str = "interleaved",
    ) -> None:
        if grouping not in GROUPINGS:
            raise ValueError(f"cfb grouping must be one of {GROUPINGS}, got {grouping!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, groups, binarizer)
        self.grouping = grouping

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn(self.conv(x))
        bypass = match_spatial(x, self.stride, out.shape[-2:])
        return out + cfb(bypass, self.out_channels, self.grouping)
