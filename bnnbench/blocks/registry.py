"""The block registry (one file per block registers into it)."""

from bnnbench.registry import Registry

BLOCKS = Registry("block")
