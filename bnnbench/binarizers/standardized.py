"""sign of a per-sample standardised activation, whose gradient flows through the statistics
(ReCU and SiMaN); one autograd Function that saves x and two numbers per sample."""

from __future__ import annotations

import torch
from torch import Tensor

from bnnbench.binarizers.ste import approx_sign_grad, sign

_CHW = (1, 2, 3)
EPS = 1e-5  # inside the square root, as both authors' codes


class _StandardizedSign(torch.autograd.Function):
    """sign(v), v = (x - [center] mean) / sqrt(var + eps) per sample over (C, H, W), var unbiased.

    Backward: g_v = g (2 - 2|v|)_+ (the authors' activation surrogate), then the exact
    derivative of v through mean and std, so nothing full-size but x is saved.
    """

    @staticmethod
    def forward(ctx, x: Tensor, center: bool) -> Tensor:
        m = x.mean(_CHW, keepdim=True)
        s = (x.var(_CHW, keepdim=True) + EPS).sqrt()
        ctx.save_for_backward(x, m, s)
        ctx.center = center
        return sign(x - m) if center else sign(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        x, m, s = ctx.saved_tensors
        n = x[0].numel()
        mu = m if ctx.center else 0.0
        v = (x - mu) / s
        g_v = grad * approx_sign_grad(v)
        # dv_i/dx_j = d_ij / s - [center] / (n s) - (x_i - mu) (x_j - m) / ((n - 1) s^3)
        through_s = (g_v * v).sum(_CHW, keepdim=True) / ((n - 1) * s * s)
        out = g_v / s - through_s * (x - m)
        if ctx.center:
            out = out - g_v.sum(_CHW, keepdim=True) / (n * s)
        return out, None


def standardized_sign(x: Tensor, center: bool) -> Tensor:
    """sign((x - [center] mean_n) / std_n) with the gradient through the per-sample statistics."""
    return _StandardizedSign.apply(x, center)
