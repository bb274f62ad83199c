"""`plain`: binarize -> binary conv -> BN, no bypass (the BNN / AdaBin baseline layer)."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from bnnbench.blocks.base import Block
from bnnbench.blocks.registry import BLOCKS


@BLOCKS.register("plain")
class PlainBlock(Block):
    """BN(conv(B(x)))."""

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(x))

    def export_module(self, path: str = "", **options: Any) -> nn.Module | None:
        """Export rule: one packed conv with the BN folded into its epilogue (None: export the conv alone)."""
        from bnnbench.export.rules import child_path, fold_bn

        return fold_bn(self.conv, self.bn, child_path(path, "conv"), **options)
