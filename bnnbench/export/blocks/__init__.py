"""Packing rules of the training blocks, one file per block, each registered FOR its block class.

A block needs a file here only when its export is more than packing each binary conv alone
(the generic rule): `plain` and `cfb` fold their BN into the kernel's epilogue (cfb adds its
bypass there too), BD-Net's 1.58-bit dual conv folds its two output scales. Deployment imports
training code, never the reverse (bitorch's rule): `bnnbench.blocks` does not know these exist.
"""

from __future__ import annotations

from bnnbench.core.registry import import_submodules

import_submodules(__name__, __path__)
