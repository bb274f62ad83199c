"""How a method initialises the latent real weights of its binary convs (declared by the method)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor


def conv_default(weight: Tensor) -> None:
    """Keep nn.Conv2d's own init (kaiming-uniform, a = sqrt(5)): BNN, BiSRNet, IR-Net, ReCU, ..."""


def uniform_1e3(weight: Tensor) -> None:
    """uniform [0, 1e-3): `torch.rand(...) * 0.001` in the code of Bi-Real and ReActNet."""
    with torch.no_grad():
        weight.uniform_(0.0, 1e-3)


def normal_1e3(weight: Tensor) -> None:
    """normal(0, std 1e-3): BiDense's code."""
    with torch.no_grad():
        weight.normal_(0.0, 1e-3)


def fan_out_normal(weight: Tensor) -> None:
    """normal(0, sqrt(2 / (k * k * C_out))): AdaBin's (and BiDet's) code."""
    k_h, k_w = weight.shape[2:]
    with torch.no_grad():
        weight.normal_(0.0, math.sqrt(2.0 / (k_h * k_w * weight.shape[0])))


def kaiming_normal(weight: Tensor) -> None:
    """normal(0, sqrt(2 / fan_in)): `init.kaiming_normal` of IR-Net's CIFAR ResNet code."""
    torch.nn.init.kaiming_normal_(weight)


WEIGHT_INITS: dict[str, Callable[[Tensor], None]] = {
    "conv_default": conv_default,
    "uniform_1e3": uniform_1e3,
    "normal_1e3": normal_1e3,
    "fan_out_normal": fan_out_normal,
    "kaiming_normal": kaiming_normal,
}
