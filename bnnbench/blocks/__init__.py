"""Blocks: how a binary conv is wired with BN and full-precision bypasses (one file per block)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bnnbench.blocks.base import Block, ConvSlot
from bnnbench.blocks.conv import BinarizerLike, BinaryConv2d
from bnnbench.blocks.registry import BLOCKS, block_options, option_names, slot_groups
from bnnbench.core.registry import import_submodules, parse_component


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
    """The block `name` (or a mapping {name: ..., **options}) for one conv slot of a network.

    `groups` is the slot's grouping (1, grouped or depth-wise); a `groups` *option* is the
    block's own parameter of that name (see `block_options`).
    """
    block_name, cfg = parse_component(name, "block")
    kwargs = block_options(block_name, {**cfg, **options})
    return build_parsed(block_name, kwargs, ConvSlot(in_ch, out_ch, kernel_size, stride, padding, groups, binarizer))


def build_parsed(name: str, kwargs: Mapping[str, Any], slot: ConvSlot) -> Block:
    """The block `name` for `slot` from options already read by `block_options` (a model parses
    its block choice once and builds every slot from it)."""
    kwargs = dict(kwargs)
    groups = slot_groups(name, kwargs, slot.in_channels, slot.out_channels, slot.groups)
    return BLOCKS.get(name)(slot.replace(groups=groups), **kwargs)


def names() -> list[str]:
    """Registered block names."""
    return BLOCKS.names()


import_submodules(__name__, __path__)

__all__ = ["BLOCKS", "BinaryConv2d", "Block", "ConvSlot", "block_options", "build", "build_parsed", "names", "option_names"]
