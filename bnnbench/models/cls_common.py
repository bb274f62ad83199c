"""Pieces the classification architectures share: the block choice, stems, the head."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from bnnbench.binarizers import BinarizerSpec
from bnnbench.blocks.conv import BinarizerLike
from bnnbench.blocks.registry import BLOCKS

HEAD_READS = ("first", "mean")
CIFAR_MAX_SIZE = 64  # inputs up to this size get the CIFAR stems (stride 1, no max-pool)


class BlockChoice:
    """A block config (a name or {name: ..., **options}) bound to a binarizer, as models use it.

    `expansion` is how much wider than the base width the features between its layers are,
    read before building (Block.expansion_for). An `es` block without a `base` wraps the
    architecture's natural block. A `groups` option sets the grouping of the regular convs
    (ES-BNN's binary group conv g); layers with their own grouping (depth-wise) reject it.
    """

    def __init__(self, block: str | Mapping[str, Any], binarizer: BinarizerLike, natural: str) -> None:
        if isinstance(block, Mapping):
            cfg = dict(block)
            if "name" not in cfg:
                raise ValueError(f"a block config needs a `name`, got {cfg}")
            name, options = str(cfg.pop("name")), cfg
        else:
            name, options = str(block), {}
        BLOCKS.check(name)
        if name == "es" and options.get("base") is None:
            options["base"] = natural
        self.name, self.options = name, options
        self.binarizer = BinarizerSpec.of(binarizer)
        cls = BLOCKS.get(name)
        expansion_for = getattr(cls, "expansion_for", None)
        self.expansion = int(expansion_for(**options) if expansion_for else getattr(cls, "expansion", 1))

    def accepts(self, option: str) -> bool:
        """Whether the block (or, for es, the block it wraps) takes the keyword `option`."""
        names = [self.name]
        if self.name == "es":
            base = self.options["base"]
            names.append(str(base["name"]) if isinstance(base, Mapping) else str(base))
        for n in names:
            params = inspect.signature(BLOCKS.get(n).__init__).parameters
            if option in params:
                return True
        return False

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
        """The block for one conv slot of the architecture, at the base widths in_ch -> out_ch."""
        options = {**self.options, **overrides}
        if "groups" in options:
            cfg_groups = int(options.pop("groups"))
            if groups != 1 and cfg_groups != 1:
                raise ValueError(
                    f"block option groups={cfg_groups} groups the regular convs, but this layer "
                    f"({in_ch} -> {out_ch}) already has groups={groups} (depth-wise)"
                )
            groups = groups if groups != 1 else cfg_groups
        return BLOCKS.build(self.name, in_ch, out_ch, kernel_size, stride, padding, groups, self.binarizer, **options)


def is_cifar_size(input_size: Sequence[int]) -> bool:
    """Whether an (H, W) input takes the CIFAR stem (<= 64 px on both sides)."""
    if len(input_size) != 2 or min(input_size) < 1:
        raise ValueError(f"input_size must be (H, W) with positive sides, got {tuple(input_size)}")
    return max(input_size) <= CIFAR_MAX_SIZE


def scale_widths(widths: Sequence[int], width_mult: float) -> list[int]:
    """Widths times `width_mult`, rounded, at least 1 (narrow variants for tests and sweeps)."""
    if width_mult <= 0:
        raise ValueError(f"width_mult must be > 0, got {width_mult}")
    return [max(1, int(round(w * width_mult))) for w in widths]


class Expand(nn.Module):
    """Tiles the real stem's output `expansion` times (ES-BNN: replicas feed the first layer)."""

    def __init__(self, expansion: int) -> None:
        super().__init__()
        self.expansion = expansion

    def extra_repr(self) -> str:
        return f"expansion={self.expansion}"

    def forward(self, x: Tensor) -> Tensor:
        return x if self.expansion == 1 else x.repeat(1, self.expansion, 1, 1)


class ClassifierHead(nn.Module):
    """Global average pool -> real Linear, reading the base width of expanded features.

    `read`: first (the first C channels, default) or mean (the mean of the tau*g replica
    slices); ES-BNN Table 9 finds both as good as the full expanded width.
    """

    def __init__(self, channels: int, num_classes: int, expansion: int = 1, read: str = "first") -> None:
        super().__init__()
        if read not in HEAD_READS:
            raise ValueError(f"head read must be one of {HEAD_READS}, got {read!r}")
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.channels, self.expansion, self.read = channels, expansion, read
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if self.expansion > 1:
            if self.read == "first":
                x = x[:, : self.channels]
            else:
                n, _, h, w = x.shape
                x = x.reshape(n, self.expansion, self.channels, h, w).mean(1)
        return self.fc(self.pool(x).flatten(1))


def conv_bn(in_ch: int, out_ch: int, kernel_size: int, stride: int, padding: int, act: bool = False) -> nn.Sequential:
    """A real conv (no bias) -> BN [-> ReLU]: the stems."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding, bias=False),
        nn.BatchNorm2d(out_ch),
    ]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


__all__ = [
    "BlockChoice",
    "ClassifierHead",
    "Expand",
    "conv_bn",
    "is_cifar_size",
    "scale_widths",
]
