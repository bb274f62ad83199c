"""What every architecture builds with: the block choice, replica-aware layers (ES-BNN's
expanded features), learnable bias, bias+PReLU and real conv + BN."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from bnnbench import blocks
from bnnbench.binarizers import BinarizerSpec
from bnnbench.blocks.base import ConvSlot
from bnnbench.blocks.conv import BinarizerLike
from bnnbench.blocks.registry import BLOCKS, block_options, family, with_wrapped, wrapped
from bnnbench.core.elementwise import per_sample
from bnnbench.core.registry import parse_component
from bnnbench.models import layer_schedule

READOUTS = ("first", "mean")

# (in_ch, out_ch, kernel_size, stride=1, padding=0, groups=1) -> module; every conv of a
# model built from blocks goes through one of these
ConvFactory = Callable[..., nn.Module]


ACTS = ("auto", "relu", "none")  # a model's activation between slots


class LearnableBias(nn.Module):
    """x + b with a learnable (1, C, 1, 1) bias, init 0 (ReActNet / BiDense "move")."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.bias

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """One add per element."""
        return per_sample(out_shape)


class BiasPReLU(nn.Module):
    """bias -> PReLU(C) [-> bias]: BiDense's activation after a block; with `out_bias` RPReLU."""

    def __init__(self, channels: int, out_bias: bool = False) -> None:
        super().__init__()
        self.bias_in = LearnableBias(channels)
        self.prelu = nn.PReLU(channels)
        self.bias_out = LearnableBias(channels) if out_bias else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.prelu(self.bias_in(x))
        return x if self.bias_out is None else self.bias_out(x)


def real_conv_bn(
    in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, padding: int = 0, groups: int = 1
) -> nn.Module:
    """A ConvFactory for real-valued layers: Conv2d (no bias, BN follows) -> BN."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch),
    )


class BlockChoice:
    """A block config (a name or {name: ..., **options}) bound to a binarizer: the factory of
    every binary conv slot of an architecture, `choice(in_ch, out_ch, k, stride, padding, groups)`.

    `expansion` is how much wider than the base width the features between layers are (ES-BNN:
    tau*g), read before building (Block.expansion_for); an architecture sizes its real layers
    between blocks (biases, activations, concatenations) by it. An `es` block without a `base`
    wraps the architecture's `natural` block.
    """

    def __init__(self, block: str | Mapping[str, Any], binarizer: BinarizerLike, natural: str) -> None:
        name, options = parse_component(block, "block")
        BLOCKS.check(name)
        options = with_wrapped(name, options, natural)
        options = {k: list(v) if layer_schedule.is_per_layer({k: v}) else v for k, v in options.items()}
        # read once (unknown keys fail here, before anything is built); every slot is built from it
        self.kwargs = block_options(name, options)
        self.name, self.options = name, options
        self.binarizer = BinarizerSpec.of(binarizer)
        # tau / groups given per stage or per layer (ES-BNN Table 8): resolved by `plan`
        self.per_layer = layer_schedule.is_per_layer(options)
        self._slots: list[dict[str, Any]] | None = None
        first = {k: v[0] if isinstance(v, list) else v for k, v in options.items()} if self.per_layer else options
        self.expansion = int(BLOCKS.get(name).expansion_for(**first))
        self.final_expansion = self.expansion  # of the last layer: what the head reads

    def accepts(self, option: str) -> bool:
        """Whether the block (or a block it wraps) takes the keyword `option`."""
        return any(option in blocks.option_names(n) for n in family(self.name, self.options))

    @property
    def innermost(self) -> str:
        """The name of the block that does the work: this one, or the last one a wrapper wraps."""
        return family(self.name, self.options)[-1]

    @property
    def has_bypass(self) -> bool:
        """Whether the working block has a full-precision bypass of its own (`Block.has_bypass`)."""
        return bool(getattr(BLOCKS.get(self.innermost), "has_bypass", True))

    def unwrapped(self) -> BlockChoice:
        """The choice of the block this one wraps (itself when it wraps none): the layers a
        wrapper leaves at the base width (ES-BNN's attention) are built with it."""
        inner = wrapped(self.name, self.options)
        if inner is None:
            return self
        return BlockChoice(inner, self.binarizer, parse_component(inner, "block")[0])

    def __call__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        **overrides: Any,
    ) -> nn.Module:
        """The block for one conv slot of the architecture, at the base widths in_ch -> out_ch;
        with per-layer options, the next layer's, re-expanded where its replicas change."""
        if not self.per_layer:
            kwargs = {**self.kwargs, **(block_options(self.name, overrides) if overrides else {})}
            slot = ConvSlot(in_ch, out_ch, kernel_size, stride, padding, groups, self.binarizer)
            return blocks.build_parsed(self.name, kwargs, slot)
        if self._slots is None:
            raise ValueError(
                f"block {self.name!r} has per-layer options ({', '.join(layer_schedule.PER_LAYER_OPTIONS)} as "
                "lists), which only models that plan their layers take (resnet18, resnet20); give single values"
            )
        if self._next >= len(self._slots):
            raise ValueError(f"the per-layer block options cover {len(self._slots)} layers; the model has more")
        options, self._next = self._slots[self._next], self._next + 1
        block = blocks.build(
            {"name": self.name, **options, **overrides}, in_ch, out_ch, kernel_size, stride, padding, groups,
            self.binarizer,
        )
        e_in, self._prev = self._prev, int(BLOCKS.get(self.name).expansion_for(**options))
        return block if e_in == self._prev else nn.Sequential(layer_schedule.Reexpand(in_ch, e_in, self._prev), block)

    def plan(self, stage_slots: Sequence[int]) -> None:
        """Declare the number of block slots of each stage, in build order, before building:
        per-stage and per-layer option lists are resolved against it (the slots are then
        called in that order, each one's input the previous one's output)."""
        if not self.per_layer:
            return
        self._slots = layer_schedule.resolve(self.options, stage_slots)
        self._next = 0
        expansions = [int(BLOCKS.get(self.name).expansion_for(**o)) for o in self._slots]
        self.expansion, self.final_expansion = expansions[0], expansions[-1]
        self._prev = self.expansion


class Expand(nn.Module):
    """Tiles features `expansion` times into replicas (ES-BNN: replicas feed the first binary layer)."""

    def __init__(self, expansion: int) -> None:
        super().__init__()
        self.expansion = expansion

    def extra_repr(self) -> str:
        return f"expansion={self.expansion}"

    def forward(self, x: Tensor) -> Tensor:
        return x if self.expansion == 1 else x.repeat(1, self.expansion, 1, 1)


class Readout(nn.Module):
    """Expanded features back to the base width: the first replica, or the mean of all
    (ES-BNN Table 9 finds both as good as reading the full expanded width)."""

    def __init__(self, channels: int, expansion: int = 1, read: str = "first") -> None:
        super().__init__()
        if read not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {read!r}")
        self.channels, self.expansion, self.read = channels, expansion, read

    def extra_repr(self) -> str:
        return f"channels={self.channels}, expansion={self.expansion}, read={self.read}"

    def forward(self, x: Tensor) -> Tensor:
        if self.expansion == 1:
            return x
        if self.read == "first":
            return x[:, : self.channels]
        return x.unflatten(1, (self.expansion, self.channels)).mean(1)


def replica_cat(tensors: Sequence[Tensor], expansion: int = 1) -> Tensor:
    """Concatenate along channels within each replica: replica r of the result is the
    concatenation of replica r of every input, so the next layer sees replica-major features."""
    if expansion == 1:
        return torch.cat(list(tensors), 1)
    return torch.cat([t.unflatten(1, (expansion, -1)) for t in tensors], 2).flatten(1, 2)


def expanded_stem(conv: nn.Module, channels: int, expansion: int, act: bool = False) -> nn.Sequential:
    """A real stem conv, tiled into replicas, then BN [-> ReLU] at the expanded width: each
    replica gets its own BN affine, as ES-BNN's code tiles the conv output before its BN."""
    layers: list[nn.Module] = [conv, Expand(expansion), nn.BatchNorm2d(channels * expansion)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def activation_layer(act: str, block: BlockChoice, kind: type[nn.Module] = nn.ReLU) -> nn.Module:
    """The model's activation between slots: `auto` is `kind` when the activations stay real
    (binarizer fp: the 32-bit reference) and none for binary ones, whose blocks bring their
    own (a ReLU before sign() would make every input +1)."""
    if act not in ACTS:
        raise ValueError(f"act must be one of {ACTS}, got {act!r}")
    if act == "relu" or (act == "auto" and not block.binarizer.binary):
        return kind()
    return nn.Identity()
