"""Export of BD-Net's 1.58-bit `DualConv`: two packed convs, each output scale in its epilogue."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from bnnbench.blocks.bdnet import DualConv
from bnnbench.blocks.conv import BinaryConv2d
from bnnbench.export.rules import child_path, pack_conv, packs


class PackedDualConv(nn.Module):
    """Exported `DualConv`: beta_1 conv_1(x) + beta_2 conv_2(x) as two packed convs, summed in
    the second's epilogue."""

    def __init__(self, first: nn.Module, second: nn.Module) -> None:
        super().__init__()
        self.first, self.second = first, second

    def forward(self, x: Tensor) -> Tensor:
        return self.second(x, residual=self.first(x).float()).to(x.dtype)


@packs(DualConv)
def export_dual_conv(dual: DualConv, path: str = "", **options: Any) -> nn.Module | None:
    """Two packed convs, beta_i folded into each epilogue, the first added as the second's
    residual (None when the convs are not binary BinaryConv2d: they stay as they are)."""
    if not all(isinstance(c, BinaryConv2d) and c.binary for c in (dual.conv1, dual.conv2)):
        return None
    first = pack_conv(dual.conv1, None, child_path(path, "conv1"), out_scale=dual.beta1, **options)
    second = pack_conv(dual.conv2, None, child_path(path, "conv2"), out_scale=dual.beta2, **options)
    return PackedDualConv(first, second)
