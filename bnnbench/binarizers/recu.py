"""`recu` (Xu et al. 2021, ReCU): rectified clamp unit on standardised weights, a learned output
scale, and a standardised activation sign."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from bnnbench.binarizers.base import ActivationBinarizer
from bnnbench.binarizers.registry import BINARIZERS
from bnnbench.binarizers.standardized import EPS, standardized_sign
from bnnbench.binarizers.weights import (
    WEIGHT_BINARIZERS,
    LearnedScaleWeight,
    channel_stats,
    standardize,
    standardize_grad,
)
from bnnbench.core.codes import ActivationCode, static_code

# z-hXu/ReCU@e14e92a (imagenet/utils/options.py defaults; main.py `cpt_tau`)
TAU_MIN, TAU_MAX = 0.85, 0.99
_C = 2 * math.sqrt(2)  # W1 = (W - mean) / (sqrt(var + eps) / (2 sqrt 2))
_FAN_IN = (1, 2, 3)


def recu_tau(epoch: int, max_epochs: int, tau_min: float = TAU_MIN, tau_max: float = TAU_MAX) -> float:
    """ReCU's tau at `epoch`: exponential from tau_min to tau_max, A e^(e/E) + B with
    A = (tau_max - tau_min) / (e - 1), B = tau_min - A."""
    a = (tau_max - tau_min) / (math.e - 1)
    return a * math.exp(epoch / max(max_epochs, 1)) + tau_min - a


def recu_clamp(w: Tensor, tau: float) -> Tensor:
    """ReCU's weight before the sign: W1 = (W - mean) / (sqrt(var + 1e-5) / (2 sqrt 2)) per output
    channel, clamped to +-Q, Q = -mean|W1| ln(2 - 2 tau) over the whole layer (detached)."""
    w1 = standardize(w, EPS) * _C
    q = float(-w1.detach().abs().mean() * math.log(2 - 2 * tau)) if tau < 1 else math.inf
    return w1.clamp(-q, q)


class _ReCUSign(torch.autograd.Function):
    """alpha sign(clamp(W1, -Q, Q)) as one Function saving W and two numbers per output channel.

    Backward (autograd through `recu_clamp`, identity through the sign): dL/dalpha = sum(g sign W1)
    per output channel; dL/dW = standardize_grad(g alpha 1_{|W1| <= Q} 2 sqrt 2) through
    W1 = 2 sqrt 2 (W - mean) / sqrt(var + 1e-5).
    """

    @staticmethod
    def forward(ctx, w: Tensor, alpha: Tensor, tau: float) -> Tensor:
        mean, sigma = channel_stats(w, EPS)
        w1 = (w - mean) / sigma * _C
        q = float(-w1.abs().mean() * math.log(2 - 2 * tau)) if tau < 1 else math.inf
        ctx.save_for_backward(w, alpha, mean, sigma)
        ctx.q = q
        return torch.where(w1 >= 0, alpha, -alpha)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor, None]:
        w, alpha, mean, sigma = ctx.saved_tensors
        u = (w - mean) / sigma
        s = torch.where(u >= 0, 1.0, -1.0).to(u.dtype)
        g_alpha = (grad * s).sum(dim=_FAN_IN, keepdim=True)
        h = torch.where((u * _C).abs() <= ctx.q, grad * alpha * _C, 0.0)
        return standardize_grad(h, u, sigma), g_alpha, None


@WEIGHT_BINARIZERS.register("recu")
class ReCUWeight(LearnedScaleWeight):
    """alpha_o sign(clamp(W1, -Q, Q)), gradient identity through the sign, zero outside +-Q,
    and through the standardisation (ReCU Sec. 3-4, z-hXu/ReCU@0f1f931 imagenet/modules/binarized_modules.py).

    alpha is a learned per-output-channel scale, init uniform [0, 1) as `torch.rand` in the code.
    tau follows `recu_tau` (0.85 -> 0.99); before any `set_epoch` it is tau(0) = 0.85 (the code's
    buffer starts at 1, i.e. no clamp, until its trainer sets epoch 0).
    """

    def __init__(self) -> None:
        super().__init__()
        self.tau = recu_tau(0, 1)

    def initial_alpha(self, w: Tensor) -> Tensor:
        return torch.rand(w.shape[0], 1, 1, 1, dtype=w.dtype, device=w.device)

    def set_epoch(self, epoch: int, max_epochs: int) -> None:
        """Anneal tau (called once per epoch by the binarizer callback)."""
        self.tau = recu_tau(epoch, max_epochs)

    def sign_source(self, w: Tensor) -> Tensor:
        return recu_clamp(w, self.tau)

    def forward(self, w: Tensor) -> Tensor:
        return _ReCUSign.apply(w, self.alpha, self.tau)  # ReCU's weight `BinaryQuantize`


@BINARIZERS.register("recu")
class ReCU(ActivationBinarizer):
    """ReCU activations: sign(x / std(x)), std per sample over (C, H, W) (unbiased, + 1e-5), with the
    gradient (2 - 2|v|)_+ at v = x / std taken through the std; weights `recu`.

    The forward equals sign(x); the code divides by the std only in training (in eval the
    gradient is not used, so the two agree).
    """

    weight = "recu"

    def forward(self, x: Tensor) -> Tensor:
        return standardized_sign(x, center=False)

    @torch.no_grad()
    def export_code(self) -> ActivationCode:
        """Bits x >= 0, levels +-1: dividing by the per-sample std (> 0) does not change the sign."""
        return static_code(lambda t: t >= 0, self.channels)


__all__ = ["ReCU", "ReCUWeight", "recu_clamp", "recu_tau"]
