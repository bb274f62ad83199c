"""`bisrnet`: BiSRNet's binarized conv units (Cai et al. 2024): residual, no BN, channel units."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bnnbench.blocks.activations import RPReLU
from bnnbench.blocks.base import Block, ConvFactory, ConvSlot
from bnnbench.blocks.conv import BinarizerLike, BinaryConv2d
from bnnbench.blocks.registry import BLOCKS
from bnnbench.core.elementwise import per_sample, pooled


class BiSRUnit(nn.Module):
    """x[:, :C_out] + RPReLU(conv(B(x))), C_in -> C_out (C_out <= C_in), stride 1: the unit every
    BiSRNet conv is made of (C_out = C_in in BiSRNet itself; fewer for a truncated duplicate).

    B is the block's binarizer (for BiSRNet: redistribution x*k + b, then sign with SBA).
    """

    def __init__(self, channels: int, kernel_size: int, groups: int, binarizer: BinarizerLike,
                 out_channels: int | None = None, conv_factory: ConvFactory = BinaryConv2d) -> None:
        super().__init__()
        self.out_channels = out_channels or channels
        # "same" padding; an even kernel (a 2x2 patchify slot) pads one more pixel at the end
        padding: int | str = kernel_size // 2 if kernel_size % 2 else "same"
        self.conv = conv_factory(channels, self.out_channels, kernel_size, 1, padding, groups, binarizer)
        self.act = RPReLU(self.out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return x[:, : self.out_channels] + self.act(self.conv(x))

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """The residual add (RPReLU declares its own)."""
        return per_sample(out_shape)


@BLOCKS.register("bisrnet")
class BiSRNetBlock(Block):
    """BiSRNet channel units around BiSRUnit:

    same width: one unit; Increase (C -> rC): r units on x, concatenated; Decrease (rC -> C): x
    split into r parts, one unit each, averaged; Down (stride s): AvgPool2d(s) first, then the
    channel unit; Up (`up=True`): bilinear x2 first (BiSRNet's Up is 2C -> C, i.e. Decrease).
    The conv must keep the spatial size (padding = kernel_size // 2).

    BiSRNet's widths only double or halve. An increase by a ratio that is not an integer
    (C -> rC + m, 0 < m < C; ConvNeXt-UPerNet's decoder out conv, 96 -> 128) truncates the
    duplicates: r units, then one unit C -> m whose residual is x's first m channels, so that
    output channel j is a unit on x with residual x[j mod C], as in the integer case. A decrease by
    such a ratio has no such reading and is refused.
    """

    integer_width_ratios = True  # compat: refused in models whose widths shrink by other ratios

    def __init__(
        self,
        slot: ConvSlot,
        up: bool = False,
    ) -> None:
        in_channels, out_channels, kernel_size, stride, padding, groups, binarizer = slot
        if in_channels > out_channels and in_channels % out_channels:
            raise ValueError(
                f"bisrnet decreases channels by an integer factor (Decrease: split, units, average), got "
                f"in={in_channels}, out={out_channels}"
            )
        if 2 * padding != kernel_size - 1 and 2 * padding != kernel_size - stride:
            raise ValueError(
                f"bisrnet units keep the spatial size and pool by the stride: padding must be "
                f"(kernel_size - 1) / 2 or (kernel_size - stride) / 2, got kernel_size={kernel_size}, "
                f"stride={stride}, padding={padding}"
            )
        if up and stride != 1:
            raise ValueError(f"bisrnet up=True upsamples: stride must be 1, got {stride}")
        remainder = out_channels % in_channels if out_channels > in_channels else 0
        if remainder and groups != 1:
            raise ValueError(
                f"bisrnet increases grouped convs by an integer factor only, got in={in_channels}, "
                f"out={out_channels}, groups={groups}"
            )
        super().__init__(slot, conv=False)
        self.up = up
        self.ceil_mode = 2 * padding == kernel_size - 1  # else floor: k = s + 2p
        small = min(in_channels, out_channels)
        self.ratio = max(in_channels, out_channels) // small
        self.increase = out_channels > in_channels
        units = [BiSRUnit(small, kernel_size, groups, binarizer, conv_factory=slot.conv_factory) for _ in range(self.ratio)]
        if remainder:  # the truncated duplicate
            units.append(BiSRUnit(in_channels, kernel_size, groups, binarizer, out_channels=remainder,
                                   conv_factory=slot.conv_factory))
        self.units = nn.ModuleList(units)

    def forward(self, x: Tensor) -> Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        if self.stride > 1:
            x = F.avg_pool2d(x, self.stride, self.stride, ceil_mode=self.ceil_mode, count_include_pad=False)
        if len(self.units) == 1:
            return self.units[0](x)
        if self.increase:
            return torch.cat([unit(x) for unit in self.units], 1)
        parts = x.chunk(self.ratio, 1)
        return torch.stack([unit(p) for unit, p in zip(self.units, parts)]).mean(0)

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """Up: bilinear x2, 4 multiplies + 3 adds per element; Down: AvgPool2d(stride);
        Decrease: the mean of the r unit outputs (one FLOP per element read); the units
        declare their own adds."""
        n, c, h, w = in_shape
        ops = 0
        if self.up:
            h, w = 2 * h, 2 * w
            ops += 7 * c * h * w
        ops += pooled((n, c, h, w), self.stride)
        if self.ratio > 1 and not self.increase:
            ops += self.ratio * per_sample(out_shape)
        return ops
