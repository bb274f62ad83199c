"""`reste` (Wu et al. 2023, ReSTE): sign with the rectified straight-through estimator, its power
o annealed from 1 to o_end per epoch, on activations and weights."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from bnnbench.binarizers.base import ActivationBinarizer
from bnnbench.binarizers.registry import BINARIZERS
from bnnbench.binarizers.ste import reste, reste_grad
from bnnbench.binarizers.weights import WEIGHT_BINARIZERS, WeightBinarizer
from bnnbench.core.codes import ActivationCode, WeightCode, static_code

# DravenALG/ReSTE@42904d1 (model/binary_module/binarized_modules.py, utils/arguments.py)
T, O_END = 1.5, 3.0


def reste_o(epoch: int, max_epochs: int, o_end: float = O_END) -> float:
    """ReSTE's power at `epoch`: o = 1 + (o_end - 1)(1 - cos(pi/2 e/E)) (its main.py `ReSTE`)."""
    return 1.0 + (o_end - 1.0) * (1.0 - math.cos(0.5 * math.pi * epoch / max(max_epochs, 1)))


class _Anneal:
    o_end: float = O_END

    def set_epoch(self, epoch: int, max_epochs: int) -> None:
        """Anneal the power o (called once per epoch by the binarizer callback)."""
        self.o = reste_o(epoch, max_epochs, self.o_end)


class _ReSTEWeight(torch.autograd.Function):
    """E sign(W), E = mean|W| of the layer taking gradient, ReSTE backward on the sign; saves W only.

    dL/dW_i = E g_i reste'(W_i) + sign(W_i) sum(g sign W) / N (autograd through the product
    would keep the weight-sized sign and |W|).
    """

    @staticmethod
    def forward(ctx, w: Tensor, t: float, o: float) -> Tensor:
        ctx.save_for_backward(w)
        ctx.t, ctx.o = t, o
        e = w.abs().mean()
        return torch.where(w >= 0, e, -e)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:
        (w,) = ctx.saved_tensors
        e = w.abs().mean()
        g_e = (grad * torch.where(w >= 0, 1.0, -1.0)).sum() / w.numel()
        return grad * e * reste_grad(w, ctx.t, ctx.o) + torch.sign(w) * g_e, None, None


@WEIGHT_BINARIZERS.register("reste")
class ReSTEWeight(_Anneal, WeightBinarizer):
    """E sign(W), E = mean|W| over the whole layer (taking gradient, as the code), ReSTE backward
    with t = 1.5 on sign(W)."""

    def __init__(self) -> None:
        super().__init__()
        self.set_epoch(0, 1)

    def scale(self, w: Tensor) -> Tensor:
        return w.detach().abs().mean().expand(w.shape[0], 1, 1, 1)

    def forward(self, w: Tensor) -> Tensor:
        return _ReSTEWeight.apply(w, T, self.o)

    @torch.no_grad()
    def export_code(self, w: Tensor) -> WeightCode:
        """Bits W >= 0, scale E = mean|W| of the layer for every output channel."""
        w = w.detach().float()
        return WeightCode(w, w.abs().mean().expand(w.shape[0]).clone())


@BINARIZERS.register("reste")
class ReSTE(_Anneal, ActivationBinarizer):
    """ReSTE activations: sign(x); backward (1/o)|x|^((1-o)/o) for 0.1 < |x| <= t, its secant
    0.1^(1/o)/0.1 below 0.1, 0 beyond t = 1.5; o goes 1 -> o_end = 3; weights `reste`."""

    weight = "reste"

    def __init__(self, channels: int, t: float = T, o_end: float = O_END) -> None:
        super().__init__(channels)
        if t <= 0 or o_end < 1:
            raise ValueError(f"reste needs t > 0 and o_end >= 1, got t={t}, o_end={o_end}")
        self.t, self.o_end = float(t), float(o_end)
        self.set_epoch(0, 1)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, t={self.t}, o={self.o:.3g}"

    def forward(self, x: Tensor) -> Tensor:
        return reste(x, self.t, self.o)

    @torch.no_grad()
    def export_code(self) -> ActivationCode:
        """Bits x >= 0, levels +-1 (the surrogate only changes the backward)."""
        return static_code(lambda t: t >= 0, self.channels)
