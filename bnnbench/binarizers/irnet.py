"""`irnet` (Qin et al. 2020, IR-Net): Libra-PB weights and the EDE surrogate, annealed per epoch."""

from __future__ import annotations

import torch
from torch import Tensor

from bnnbench.binarizers.base import ActivationBinarizer
from bnnbench.binarizers.registry import BINARIZERS
from bnnbench.binarizers.ste import ede, ede_grad, ede_schedule
from bnnbench.binarizers.weights import WEIGHT_BINARIZERS, WeightBinarizer, standardize
from bnnbench.core.codes import ActivationCode, WeightCode, static_code

# htqin/IR-Net@831282f CIFAR-10/ResNet20/1w1a/trainer.py: T_min, T_max = 1e-3, 1e1 (the ResNet rows);
# CIFAR-10/VGG-Small/main.py uses 1e-1, 1e1 (`t_min=0.1`)
T_MIN, T_MAX = 1e-3, 10.0
_FAN_IN = (1, 2, 3)


class _EDESchedule:
    """t, k of IR-Net's EDE at the current epoch; `set_epoch` is called by the epoch callback."""

    t_min: float = T_MIN
    t_max: float = T_MAX

    def set_epoch(self, epoch: int, max_epochs: int) -> None:
        """EDE at `epoch` of `max_epochs`: t = 10^(log t_min + (log t_max - log t_min) e/E), k = max(1/t, 1)."""
        self.t, self.k = ede_schedule(epoch, max_epochs, self.t_min, self.t_max)


def libra_pb(w: Tensor) -> tuple[Tensor, Tensor]:
    """(W_std, s): IR-Net Libra-PB, W_std = (W - mean) / std per output channel (unbiased std,
    statistics not detached) and s = 2^round(log2(mean|W_std|)), detached."""
    w_std = standardize(w)
    s = torch.exp2(torch.round(torch.log2(w_std.detach().abs().mean(dim=_FAN_IN, keepdim=True))))
    return w_std, s


class _LibraPBSign(torch.autograd.Function):
    """s * sign(W_std) with the EDE gradient through the standardisation, as one Function.

    Autograd through `libra_pb` and `ede` keeps several weight-sized tensors (the centred and
    standardised weights) for every conv; this saves W (a parameter: no extra memory) and two
    numbers per output channel, and recomputes W_std in the backward.
    dL/dW = (g_v - mean(g_v) - v sum(g_v v) / (n - 1)) / std per output channel, g_v = g s k t (1 - tanh^2(t v)).
    """

    @staticmethod
    def forward(ctx, w: Tensor, t: float, k: float) -> Tensor:
        mean = w.mean(dim=_FAN_IN, keepdim=True)
        n = w[0].numel()
        std = (w - mean).var(dim=_FAN_IN, keepdim=True, correction=1 if n > 1 else 0).sqrt().clamp_min(1e-12)
        v = (w - mean) / std
        s = torch.exp2(torch.round(torch.log2(v.abs().mean(dim=_FAN_IN, keepdim=True))))
        ctx.save_for_backward(w, mean, std, s)
        ctx.t, ctx.k = t, k
        return torch.where(v >= 0, s, -s)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:
        w, mean, std, s = ctx.saved_tensors
        n = w[0].numel()
        if n == 1:  # a one-weight filter centres to 0 whatever its weight
            return torch.zeros_like(w), None, None
        v = (w - mean) / std
        g_v = grad * s * ede_grad(v, ctx.t, ctx.k)
        g_mean = g_v.mean(dim=_FAN_IN, keepdim=True)
        g_dot = (g_v * v).sum(dim=_FAN_IN, keepdim=True) / (n - 1)
        return (g_v - g_mean - v * g_dot) / std, None, None


@WEIGHT_BINARIZERS.register("irnet")
class IRNetWeight(_EDESchedule, WeightBinarizer):
    """IR-Net weights: s * sign(W_std) (Libra-PB) with the EDE backward k t (1 - tanh^2(t W_std)).

    As htqin/IR-Net@831282f (CIFAR-10/ResNet20/1w1a/modules/ir_1w1a.py): the standardisation
    takes gradient, the power-of-two scale s does not; t, k start at epoch 0 of the schedule.
    """

    def __init__(self) -> None:
        super().__init__()
        self.set_epoch(0, 1)

    def scale(self, w: Tensor) -> Tensor:
        return libra_pb(w.detach())[1]

    def forward(self, w: Tensor) -> Tensor:
        return _LibraPBSign.apply(w, self.t, self.k)

    @torch.no_grad()
    def export_code(self, w: Tensor) -> WeightCode:
        """Bits W_std >= 0, scale s (Libra-PB)."""
        w_std, s = libra_pb(w.detach().float())
        return WeightCode(w_std, s.reshape(-1))


@BINARIZERS.register("irnet")
class IRNet(_EDESchedule, ActivationBinarizer):
    """IR-Net activations: sign(x) with the EDE gradient k t (1 - tanh^2(t x)); weights `irnet`.

    t rises from 1e-3 to 10 over training (log-linear per epoch), k = max(1/t, 1), the schedule
    of the authors' ResNet-20 trainer (htqin/IR-Net@831282f CIFAR-10/ResNet20/1w1a/trainer.py);
    `t_min=0.1` is their VGG-Small's (CIFAR-10/VGG-Small/main.py).
    """

    weight = "irnet"
    weight_init = "kaiming_normal"  # htqin/IR-Net@831282f CIFAR-10/ResNet20/1w1a/resnet.py

    def __init__(self, channels: int, t_min: float = T_MIN, t_max: float = T_MAX) -> None:
        super().__init__(channels)
        if not 0 < t_min <= t_max:
            raise ValueError(f"irnet needs 0 < t_min <= t_max, got t_min={t_min}, t_max={t_max}")
        self.t_min, self.t_max = float(t_min), float(t_max)
        self.set_epoch(0, 1)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, t={self.t:.3g}, k={self.k:.3g}"

    def forward(self, x: Tensor) -> Tensor:
        return ede(x, self.t, self.k)

    @torch.no_grad()
    def export_code(self) -> ActivationCode:
        """Bits x >= 0, levels +-1 (the surrogate only changes the backward)."""
        return static_code(lambda t: t >= 0, self.channels)


__all__ = ["IRNet", "IRNetWeight", "libra_pb"]
