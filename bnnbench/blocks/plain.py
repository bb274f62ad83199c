"""`plain`: binarize -> binary conv -> BN, no bypass (the BNN / AdaBin baseline layer)."""

from __future__ import annotations

from torch import Tensor

from bnnbench.blocks.base import Block
from bnnbench.blocks.registry import BLOCKS


@BLOCKS.register("plain")
class PlainBlock(Block):
    """BN(conv(B(x)))."""

    has_bypass = False

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(x))

