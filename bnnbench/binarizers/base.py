"""The activation-binarizer contract shared by every method."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import Tensor, nn

from bnnbench.binarizers.weight_init import WEIGHT_INITS
from bnnbench.core.codes import ActivationCode


def channel_param(channels: int, init: float = 0.0, std: float = 0.0) -> nn.Parameter:
    """A learnable (1, C, 1, 1) parameter, constant `init` or normal(init, std)."""
    p = torch.full((1, channels, 1, 1), float(init))
    if std > 0:
        p.normal_(init, std)
    return nn.Parameter(p)


class ActivationBinarizer(nn.Module):
    """Binarizes a (N, C, H, W) activation; class attributes tell the block how to wire it.

    `weight`: the registry name of the method's weight binarizer; `conv_bias`: whether the
    method gives its binary convs a bias; `binary`: False only for the real-valued baseline;
    `levels_per_channel`: how many values the output takes per (sample, channel) (2 lets the
    conv store its saved input as one byte per element); `symmetric_levels`: they are +-s;
    `weight_init`: how the method's code initialises the latent weights of its binary convs
    (a name in `bnnbench.binarizers.weight_init.WEIGHT_INITS`).
    """

    weight: ClassVar[str] = "meanabs"
    conv_bias: ClassVar[bool] = False
    binary: ClassVar[bool] = True
    levels_per_channel: ClassVar[int] = 2  # distinct output values per (sample, channel)
    symmetric_levels: ClassVar[bool] = True  # those values are +-s (s >= 0) per (sample, channel)
    weight_init: ClassVar[str] = "conv_default"

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        self.channels = channels

    def extra_repr(self) -> str:
        return f"channels={self.channels}"

    def init_weight(self, weight: Tensor) -> None:
        """Initialise the latent real weight of the conv this binarizer feeds, as the method's code does."""
        WEIGHT_INITS[self.weight_init](weight)

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """Elementwise FLOPs of one forward (`bnnbench.core.elementwise`): a plain sign is free."""
        return 0

    def export_code(self) -> ActivationCode | None:
        """This binarizer as packed-bit thresholds and levels (`bnnbench.core.codes`); None: no export rule."""
        return None
