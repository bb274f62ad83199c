"""Blocks: how a binary conv is wired with BN and full-precision bypasses (one file per block)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bnnbench.blocks.base import Block
from bnnbench.blocks.conv import BinarizerLike, BinaryConv2d
from bnnbench.blocks.registry import BLOCKS
from bnnbench.registry import import_submodules


def build(
    name: str | Mapping[str, Any],
    in_ch: int,
    out_ch: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    groups: int = 1,
    binarizer: BinarizerLike = "fp",
    **options: Any,
) -> Block:
    """The block `name` (or a mapping {name: ..., **options}) for one conv of the network."""
    if isinstance(name, Mapping):
        options = {**{k: v for k, v in dict(name).items() if k != "name"}, **options}
        name = dict(name)["name"]
    return BLOCKS.build(name, in_ch, out_ch, kernel_size, stride, padding, groups, binarizer, **options)


def names() -> list[str]:
    """Registered block names."""
    return BLOCKS.names()


import_submodules(__name__, __path__)

__all__ = ["BLOCKS", "BinaryConv2d", "Block", "build", "names"]
