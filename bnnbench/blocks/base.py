"""The block contract: block(in_ch, out_ch, kernel_size, stride, padding, groups, binarizer)."""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from bnnbench.blocks.conv import BinarizerLike, BinaryConv2d


class Block(nn.Module):
    """A binary conv wired with BN and (in subclasses) full-precision bypasses.

    Output: `out_channels` channels at the conv's spatial size. Blocks never know which
    binarizer they hold. `expansion` is how many times wider than `out_channels` the features
    that flow out of the block are (1 for every block that does not widen them).
    """

    expansion: ClassVar[int] = 1

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        binarizer: BinarizerLike = "fp",
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.conv = BinaryConv2d(in_channels, out_channels, kernel_size, stride, padding, groups, binarizer)
        self.bn = nn.BatchNorm2d(out_channels)
