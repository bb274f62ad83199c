"""The export path's internals: binarizer codes, packed layers, block/conv rules, size report.

Public entry points are `bnnbench.export.export` / `export_report` (see `bnnbench.export`).
"""

from __future__ import annotations

from bnnbench.exporting.codes import UnsupportedExport
from bnnbench.exporting.layers import CHANNEL_SCALE_MODES, PackedCFBBlock, PackedConv
from bnnbench.exporting.report import export_report, model_bytes
from bnnbench.exporting.rules import export_modules, pack_conv

__all__ = [
    "CHANNEL_SCALE_MODES",
    "PackedCFBBlock",
    "PackedConv",
    "UnsupportedExport",
    "export_modules",
    "export_report",
    "model_bytes",
    "pack_conv",
]
