"""Export of `plain` (BN(conv(B(x)))): one packed conv with the BN folded into its epilogue."""

from __future__ import annotations

from typing import Any

from torch import nn

from bnnbench.blocks.plain import PlainBlock
from bnnbench.export.rules import child_path, fold_bn, packs


@packs(PlainBlock)
def export_plain(block: PlainBlock, path: str = "", **options: Any) -> nn.Module | None:
    """One packed conv with the BN folded into its epilogue (None: export the conv alone)."""
    return fold_bn(block.conv, block.bn, child_path(path, "conv"), **options)
