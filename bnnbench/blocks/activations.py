"""Small learnable layers the BNN blocks share: RPReLU, Maxout (the learnable bias before a
sign is part of the binarizers, e.g. ReActNet's RSign)."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from bnnbench.binarizers.base import channel_param
from bnnbench.core.elementwise import per_sample

ACTIVATIONS = ("rprelu", "maxout", "prelu", "relu", "none")


class RPReLU(nn.Module):
    """ReActNet Eq. 3: (x - gamma) if x > gamma else beta (x - gamma), then + zeta, per channel.

    gamma and zeta init 0, the slope beta init 0.25 (PReLU's default), as in the authors' code
    (bias -> PReLU -> bias).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = channel_param(channels, 0.0)
        self.beta = channel_param(channels, 0.25)
        self.zeta = channel_param(channels, 0.0)

    def forward(self, x: Tensor) -> Tensor:
        return F.prelu(x - self.gamma, self.beta.reshape(-1)) + self.zeta

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """Subtract, PReLU (compare-and-select, multiply), add: four per element."""
        return 4 * per_sample(out_shape)


class Maxout(nn.Module):
    """AdaBin's Maxout: gamma_pos * relu(x) - gamma_neg * relu(-x), per channel (init 1, 0.25)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma_pos = channel_param(channels, 1.0)
        self.gamma_neg = channel_param(channels, 0.25)

    def forward(self, x: Tensor) -> Tensor:
        return self.gamma_pos * F.relu(x) - self.gamma_neg * F.relu(-x)

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """Two ReLUs, two multiplies, a subtraction: five per element."""
        return 5 * per_sample(out_shape)


def check_activation(name: str, owner: str) -> str:
    """Return `name` if it is a known activation, else raise naming the valid choices."""
    if name not in ACTIVATIONS:
        raise ValueError(f"{owner} act must be one of {ACTIVATIONS}, got {name!r}")
    return name


def activation(name: str, channels: int) -> nn.Module:
    """The block activation `name` for `channels` channels (ReActNet: rprelu, AdaBin: maxout)."""
    check_activation(name, "block")
    if name == "rprelu":
        return RPReLU(channels)
    if name == "maxout":
        return Maxout(channels)
    if name == "prelu":
        return nn.PReLU(channels, 0.25)
    if name == "relu":
        return nn.ReLU()
    return nn.Identity()


__all__ = ["ACTIVATIONS", "Maxout", "RPReLU", "activation", "check_activation"]
