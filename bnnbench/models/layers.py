"""Small layers shared by the architectures: learnable bias, bias+PReLU, the conv factory."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from bnnbench import blocks
from bnnbench.blocks.conv import BinarizerLike

# (in_ch, out_ch, kernel_size, stride=1, padding=0, groups=1) -> module; every conv of a
# model built from blocks goes through one of these
ConvFactory = Callable[..., nn.Module]


class LearnableBias(nn.Module):
    """x + b with a learnable (1, C, 1, 1) bias, init 0 (ReActNet / BiDense "move")."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.bias


class BiasPReLU(nn.Module):
    """bias -> PReLU(C) [-> bias]: BiDense's activation after a block; with `out_bias` RPReLU."""

    def __init__(self, channels: int, out_bias: bool = False) -> None:
        super().__init__()
        self.bias_in = LearnableBias(channels)
        self.prelu = nn.PReLU(channels)
        self.bias_out = LearnableBias(channels) if out_bias else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.prelu(self.bias_in(x))
        return x if self.bias_out is None else self.bias_out(x)


def block_factory(block: str | Mapping[str, Any], binarizer: BinarizerLike) -> ConvFactory:
    """A ConvFactory building every conv as `blocks.build(block, ..., binarizer=binarizer)`."""

    def make(
        in_ch: int,
        out_ch: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
    ) -> nn.Module:
        blk = blocks.build(
            block, in_ch, out_ch, kernel_size, stride, padding, groups, binarizer=binarizer
        )
        check_expansion(blk)
        return blk

    return make


def real_conv_bn(
    in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, padding: int = 0, groups: int = 1
) -> nn.Module:
    """A ConvFactory for real-valued layers: Conv2d (no bias, BN follows) -> BN."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch),
    )


def check_expansion(blk: nn.Module) -> None:
    """Raise for blocks that widen the features they pass on (ES): these models can't wire them."""
    width = getattr(blk, "expansion", 1)
    if width != 1:
        raise ValueError(
            f"block {type(blk).__name__} widens its features {width}x (expansion={width}); "
            "this model wires blocks of expansion 1 only"
        )
