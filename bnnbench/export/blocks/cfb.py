"""Export of `cfb` (BiDense's BiDenseConv2d): the packed conv folds the BN and adds the bypass."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from bnnbench.blocks.bypass import cfb, match_spatial
from bnnbench.blocks.cfb import CFBBlock
from bnnbench.export.rules import child_path, fold_bn, packs


class PackedCFBBlock(nn.Module):
    """Exported `cfb` block: packed conv with BN folded, the CFB bypass added in its epilogue."""

    def __init__(self, conv: nn.Module, stride: int, out_channels: int, grouping: str) -> None:
        super().__init__()
        self.conv, self.stride, self.out_channels, self.grouping = conv, stride, out_channels, grouping

    def forward(self, x: Tensor) -> Tensor:
        """BN(conv(B(x))) + CFB(AvgPool(x)), with BN and the bypass add in the conv's epilogue."""
        size = self.conv.output_size(x.shape[2], x.shape[3])
        bypass = cfb(match_spatial(x, self.stride, size), self.out_channels, self.grouping)
        return self.conv(x, residual=bypass.float()).to(x.dtype)


@packs(CFBBlock)
def export_cfb(block: CFBBlock, path: str = "", **options: Any) -> nn.Module | None:
    """The packed conv folds the BN and adds the bypass in its epilogue (None: conv alone)."""
    conv = fold_bn(block.conv, block.bn, child_path(path, "conv"), **options)
    return None if conv is None else PackedCFBBlock(conv, block.stride, block.out_channels, block.grouping)
