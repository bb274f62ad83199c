"""The block contract: block(slot, **its own options), slot = ConvSlot(in_ch, out_ch, kernel_size,
stride, padding, groups, binarizer)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import nn

from bnnbench.blocks.conv import BinarizerLike, BinaryConv2d

ConvFactory = Callable[..., nn.Module]  # BinaryConv2d's signature: (C_in, C_out, k, s, p, groups, binarizer)


@dataclass(frozen=True)
class ConvSlot:
    """One conv slot of a network, what every block is built for: C_in -> C_out with this kernel,
    stride, padding and grouping, binarized by `binarizer`. One value, so that a block declares
    only its own options after it; unpacks in this order (`cin, cout, k, s, p, g, b = slot`).

    `conv_factory` makes the slot's convs (BinaryConv2d, with its signature): a wrapper block
    hands the block it wraps a slot with its own (ES-BNN's expanding-and-shrinking: the wrapped
    block's BN, biases and bypasses come out at the expanded width while its convs keep their
    cost). Blocks build every conv with it, so the choice travels with the slot and no block
    changes what another builds behind its back."""

    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: int = 0
    groups: int = 1
    binarizer: BinarizerLike = "fp"
    conv_factory: ConvFactory = BinaryConv2d

    def __iter__(self) -> Iterator[Any]:
        return iter((self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding,
                     self.groups, self.binarizer))

    def replace(self, **changes: Any) -> ConvSlot:
        """A copy with `changes` (e.g. the widths of an expanded block)."""
        return dataclasses.replace(self, **changes)


class Block(nn.Module):
    """A binary conv wired with BN and (in subclasses) full-precision bypasses.

    Output: `out_channels` channels at the conv's spatial size. Blocks never know which
    binarizer they hold. `expansion` is how many times wider than `out_channels` the features
    that flow out of the block are (1 for every block that does not widen them); the builder of
    a model reads it before building from `expansion_for(**options)`. Blocks made of several
    convs pass `conv=False` and build their own.
    """

    expansion: ClassVar[int] = 1
    # the name of the block's own option that a config's `groups` key sets (ES-BNN's g);
    # None: the block has no such option, and `groups` in its config is an error
    groups_option: ClassVar[str | None] = None
    # whether the block has a full-precision bypass of its own (a residual, CFB, ...): a unit of
    # a network keeps its own identity shortcut only around blocks without one (plain)
    has_bypass: ClassVar[bool] = True
    # a wrapper block (ES-BNN's expanding-and-shrinking) names the block it wraps in this option;
    # None there means the model's own block (`blocks.registry.wrapped`, filled in by models)
    wraps_option: ClassVar[str | None] = None

    def __init__(self, slot: ConvSlot, *, conv: bool = True) -> None:
        in_channels, out_channels, kernel_size, stride, padding, groups, binarizer = slot
        super().__init__()
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        if conv:
            self.conv = slot.conv_factory(in_channels, out_channels, kernel_size, stride, padding, groups, binarizer)
            self.bn = nn.BatchNorm2d(out_channels)

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """Elementwise FLOPs of the block's own bypass arithmetic (`bnnbench.core.elementwise`); its
        binarizers and activations declare theirs, BN is counted apart: none here."""
        return 0

    @classmethod
    def expansion_for(cls, **options: Any) -> int:
        """The `expansion` of the block built with these options (the class attribute by default)."""
        return cls.expansion


__all__ = ["Block", "ConvFactory", "ConvSlot"]
