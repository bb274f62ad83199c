"""The block registry, and how a block's config options reach its constructor."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from bnnbench.core.registry import BLOCKS, parse_component

_SLOT = ("self", "slot")  # what every block takes first (`blocks.base.ConvSlot`)


def option_names(name: str) -> list[str]:
    """The options block `name` takes besides the conv slot (its config keys)."""
    cls = BLOCKS.get(name)
    params = inspect.signature(cls.__init__).parameters
    names = [p for p in params if p not in _SLOT and params[p].kind is not inspect.Parameter.VAR_KEYWORD]
    if cls.groups_option is not None:
        names = ["groups" if p == cls.groups_option else p for p in names]
    return [p for p in names if p != "conv"]


def block_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """`options` as block `name`'s constructor takes them; an unknown key raises naming the valid ones.

    A `groups` option (config key) is never the conv slot's grouping argument: it is renamed
    to the block's own parameter named in `groups_option` (ES-BNN's g), or, for blocks that
    have none, applied to the slot by `slot_groups`. These two functions are the one place
    where a config's `groups` and a layer's grouping meet.
    """
    cls = BLOCKS.get(name)
    options = dict(options)
    params = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    valid = option_names(name)
    valid = [*valid, "groups"] if "groups" not in valid else valid  # see `slot_groups`
    unknown = [k for k in options if k not in valid and not takes_any]
    if unknown:
        raise ValueError(
            f"block {name!r} has no option {', '.join(map(repr, unknown))}: valid options are "
            f"{', '.join(valid) or '(none)'}"
        )
    if "groups" in options and cls.groups_option is not None:
        options[cls.groups_option] = options.pop("groups")
    return options


def slot_groups(name: str, options: dict[str, Any], in_ch: int, out_ch: int, groups: int) -> int:
    """The slot's grouping after a `groups` option of a block that has no own parameter of
    that name: it groups the regular convs (ES-BNN's binary group conv on any block); a
    layer that is already grouped (depth-wise) refuses it. Pops the option from `options`."""
    if "groups" not in options:
        return groups
    cfg_groups = int(options.pop("groups"))
    if cfg_groups == 1:
        return groups
    if groups != 1:
        raise ValueError(
            f"block {name!r} option groups={cfg_groups} groups the regular convs, but this layer "
            f"({in_ch} -> {out_ch}) already has groups={groups} (depth-wise)"
        )
    return cfg_groups


def with_wrapped(name: str, options: Mapping[str, Any], natural: str) -> dict[str, Any]:
    """`options` of block `name` with the block it wraps filled in: `natural` (the model's own
    block) where a wrapper block's option is None; unchanged for other blocks."""
    options = dict(options)
    key = BLOCKS.get(name).wraps_option
    if key is not None and options.get(key) is None:
        options[key] = natural
    return options


def wrapped(name: str, options: Mapping[str, Any]) -> str | Mapping[str, Any] | None:
    """The block config that block `name` wraps (a name or {name: ..., **options}), or None."""
    key = BLOCKS.get(name).wraps_option
    return None if key is None else options.get(key)


def family(name: str, options: Mapping[str, Any]) -> list[str]:
    """Block `name` and the blocks it wraps, outermost first: what a model asks when it needs a
    block option or a property (a wrapper takes on what it wraps)."""
    names = [name]
    inner = wrapped(name, options)
    while inner is not None:
        inner_name, inner_options = parse_component(inner, "block")
        names.append(inner_name)
        inner = wrapped(inner_name, inner_options)
    return names


__all__ = ["BLOCKS", "block_options", "family", "option_names", "slot_groups", "with_wrapped", "wrapped"]
