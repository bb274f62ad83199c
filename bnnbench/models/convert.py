"""Binarize any torch model: swap its Conv2d layers for blocks, keeping the layers named in `keep`.

Decisions:
- The converted conv's own bias is dropped: the block follows the conv with BN, whose shift
  replaces it (a bias before BN is a no-op); a binarizer that gives its convs a bias (bnn)
  still gets one, as everywhere else.
- The original structure stays as it is, so a BN after a converted conv stays too (BN after
  the block's BN is harmless, and every other layer keeps its name and place).
- The block takes the conv's place in its parent (same attribute name); a conv shared by
  several parents becomes one block shared the same way.
- Dilation is passed to the block's BinaryConv2d; non-square strides, non-zero padding modes
  and Conv2d subclasses (e.g. timm's Conv2dSame, whose forward pads dynamically) raise.
- Linear, ConvTranspose2d and other layers stay real.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

import torch
from torch import nn

from bnnbench import blocks
from bnnbench.blocks.base import Block
from bnnbench.blocks.conv import BinarizerLike, BinaryConv2d
from bnnbench.core.registry import BLOCKS, parse_component
from bnnbench.models.compat import ES_IN_CONVERTED, IncompatibleError, expandable_models


def _square(value: Any, what: str, name: str) -> Any:
    """An int for square (k, k) tuples; strings and non-square tuples pass through."""
    if isinstance(value, tuple) and len(set(value)) == 1:
        return value[0]
    if isinstance(value, tuple) and what == "stride":
        raise ValueError(f"conv {name!r}: convert needs a square stride, got {value}")
    return value


def _to_block(
    conv: nn.Conv2d,
    name: str,
    block: str | Mapping[str, Any],
    binarizer: BinarizerLike,
    copy_weights: bool,
) -> nn.Module:
    if type(conv) is not nn.Conv2d:
        raise ValueError(
            f"conv {name!r} is a {type(conv).__name__}, a Conv2d subclass with its own forward; "
            "convert only swaps plain nn.Conv2d (name it in `keep` to leave it real)"
        )
    if conv.padding_mode != "zeros":
        raise ValueError(
            f"conv {name!r}: padding_mode={conv.padding_mode!r} is not supported (zeros only)"
        )
    blk = blocks.build(
        block,
        conv.in_channels,
        conv.out_channels,
        _square(conv.kernel_size, "kernel", name),
        _square(conv.stride, "stride", name),
        _square(conv.padding, "padding", name),
        conv.groups,
        binarizer=binarizer,
    )
    inner = getattr(blk, "conv", None)
    if conv.dilation != (1, 1) or copy_weights:
        if not isinstance(inner, BinaryConv2d) or inner.weight.shape != conv.weight.shape:
            raise ValueError(
                f"conv {name!r}: block {type(blk).__name__} has no single conv to take its dilation/weights"
            )
        inner.dilation = conv.dilation
        if copy_weights:
            with torch.no_grad():
                inner.weight.copy_(conv.weight)
    return blk.to(device=conv.weight.device, dtype=conv.weight.dtype).train(conv.training)


def _matches(name: str, patterns: Sequence[str]) -> bool:
    """True when `name` or one of its ancestors (not the root) matches a pattern."""
    parts = name.split(".")
    prefixes = [".".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatchcase(p, pat) for p in prefixes for pat in patterns)


def convert(
    model: nn.Module,
    block: str | Mapping[str, Any] = "plain",
    binarizer: BinarizerLike = "dab",
    keep: Sequence[str] = (),
    copy_weights: bool = False,
) -> nn.Module:
    """Replace (in place) every real nn.Conv2d of `model` by `block` with `binarizer`; return it.

    `keep`: fnmatch patterns of qualified module names ("encoder.conv1", "segmentation_head",
    "head.*"); a conv is kept real when its name or an ancestor's matches. A pattern that
    matches no module raises (a typo would otherwise silently binarize the layer).
    `copy_weights` starts the binary convs from the real weights (e.g. a pretrained model);
    by default BinaryConv2d initialises them.
    """
    keep = [keep] if isinstance(keep, str) else list(keep)
    name, options = parse_component(block, "block")
    expansion = BLOCKS.get(name).expansion_for(**options)
    if expansion != 1:
        raise IncompatibleError(
            ES_IN_CONVERTED.format(block=name, expansion=expansion, model=type(model).__name__,
                                   expandable=", ".join(expandable_models()), natural="plain")
        )
    all_names = [n for n, _ in model.named_modules(remove_duplicate=False) if n]
    unmatched = [p for p in keep if not any(fnmatchcase(n, p) for n in all_names)]
    if unmatched:
        raise ValueError(f"keep patterns {unmatched} match no module of {type(model).__name__}")
    if isinstance(model, nn.Conv2d) and not isinstance(model, BinaryConv2d):
        return _to_block(model, "", block, binarizer, copy_weights)

    # every place a conv sits: (parent, attribute, qualified name); shared convs appear twice
    places: dict[int, list[tuple[nn.Module, str, str]]] = {}
    convs: dict[int, nn.Conv2d] = {}

    def walk(module: nn.Module, prefix: str) -> None:
        for attr, child in module._modules.items():
            if child is None or isinstance(child, (Block, BinaryConv2d)):
                continue  # already binary (or a block's own real conv, e.g. with fp)
            name = f"{prefix}.{attr}" if prefix else attr
            if isinstance(child, nn.Conv2d):
                places.setdefault(id(child), []).append((module, attr, name))
                convs[id(child)] = child
            else:
                walk(child, name)

    walk(model, "")
    for key, conv in convs.items():
        where = places[key]
        if any(_matches(name, keep) for _, _, name in where):
            continue
        blk = _to_block(conv, where[0][2], block, binarizer, copy_weights)
        for parent, attr, _ in where:
            setattr(parent, attr, blk)
    return model
