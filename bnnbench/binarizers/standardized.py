"""sign of a per-sample standardised activation, whose gradient flows through the statistics
(ReCU, SiMaN and RBNN's released code); one autograd Function that saves x and two numbers per
sample."""

from __future__ import annotations

import torch
from torch import Tensor

from bnnbench.binarizers.ste import approx_sign_grad, sign, training_aware_grad

_CHW = (1, 2, 3)
EPS = 1e-5  # inside the square root, as both authors' codes


class _StandardizedSign(torch.autograd.Function):
    """sign(v), v = (x - [center] mean) / sqrt(var + eps) per sample over (C, H, W), var unbiased.

    Backward: g_v = g (2 - 2|v|)_+ (ReCU's and SiMaN's activation surrogate), or with `ta` = (t, k)
    RBNN's training-aware k (sqrt 2 t - t^2 |v|)_+; then the exact derivative of v through mean
    and std, so nothing full-size but x is saved.
    """

    @staticmethod
    def forward(ctx, x: Tensor, center: bool, eps: float, ta: tuple[float, float] | None) -> Tensor:
        m = x.mean(_CHW, keepdim=True)
        s = (x.var(_CHW, keepdim=True) + eps).sqrt()
        ctx.save_for_backward(x, m, s)
        ctx.center, ctx.ta = center, ta
        return sign(x - m) if center else sign(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None, None]:
        x, m, s = ctx.saved_tensors
        n = x[0].numel()
        mu = m if ctx.center else 0.0
        v = (x - mu) / s
        g_v = grad * (approx_sign_grad(v) if ctx.ta is None else training_aware_grad(v, *ctx.ta))
        # dv_i/dx_j = d_ij / s - [center] / (n s) - (x_i - mu) (x_j - m) / ((n - 1) s^3)
        through_s = (g_v * v).sum(_CHW, keepdim=True) / ((n - 1) * s * s)
        out = g_v / s - through_s * (x - m)
        if ctx.center:
            out = out - g_v.sum(_CHW, keepdim=True) / (n * s)
        return out, None, None, None


def standardized_sign(x: Tensor, center: bool, eps: float = EPS, ta: tuple[float, float] | None = None) -> Tensor:
    """sign((x - [center] mean_n) / sqrt(var_n + eps)) with the gradient through the per-sample
    statistics; `ta` = (t, k) takes RBNN's training-aware surrogate instead of (2 - 2|v|)_+."""
    return _StandardizedSign.apply(x, center, eps, ta)
