"""sign(v) (= +1 for v >= 0) with the surrogate gradients of the BNN literature.

Each surrogate is an autograd Function that saves only what its backward needs, so binary
layers cost little more memory than real ones (autograd through a composed expression
would keep every intermediate).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor


def sign(v: Tensor) -> Tensor:
    """+1 where v >= 0, -1 elsewhere (BiDense Eq. 1); torch.sign maps 0 to 0 and would not."""
    return torch.where(v >= 0, 1.0, -1.0).to(v.dtype)


class _ClipSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v: Tensor) -> Tensor:
        ctx.save_for_backward(v.abs() <= 1)  # a bool mask: a quarter of the bytes of v
        return sign(v)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (inside,) = ctx.saved_tensors
        return grad * inside


class _ApproxSign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v: Tensor) -> Tensor:
        ctx.save_for_backward(v)
        return sign(v)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (v,) = ctx.saved_tensors
        return grad * approx_sign_grad(v)


class _SBA(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v: Tensor, beta: Tensor) -> Tensor:
        ctx.save_for_backward(v, beta)
        return sign(v)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor]:
        v, beta = ctx.saved_tensors
        sech2 = 1 - torch.tanh(beta * v) ** 2
        grad_v = grad * beta * sech2
        # the surrogate is tanh(beta v): d/d beta = v sech^2(beta v)
        grad_beta = (grad * v * sech2).sum().reshape(beta.shape)
        return grad_v, grad_beta


class _ScheduledSign(torch.autograd.Function):
    """sign(v) whose gradient is `grad_of(v, a, b)` for two scalar schedule parameters
    (EDE's t, k; ReSTE's t, o; RBNN's t, k): one Function that saves v alone."""

    @staticmethod
    def forward(ctx, v: Tensor, grad_of: Callable[[Tensor, float, float], Tensor], a: float, b: float) -> Tensor:
        ctx.save_for_backward(v)
        ctx.grad_of, ctx.a, ctx.b = grad_of, a, b
        return sign(v)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None, None]:
        (v,) = ctx.saved_tensors
        return grad * ctx.grad_of(v, ctx.a, ctx.b), None, None, None


def ede_grad(v: Tensor, t: float, k: float) -> Tensor:
    """IR-Net's EDE derivative k t (1 - tanh^2(t v))."""
    return k * t * (1 - torch.tanh(t * v) ** 2)


def training_aware_grad(v: Tensor, t: float, k: float) -> Tensor:
    """RBNN's training-aware derivative k (sqrt(2) t - t^2 |v|), clipped at 0."""
    return (k * (math.sqrt(2.0) * t - t * t * v.abs())).clamp_min(0)


RESTE_INTERVAL = 0.1  # ReSTE's code: below this |v| the power law is replaced by its secant


def reste_grad(v: Tensor, t: float, o: float) -> Tensor:
    """ReSTE derivative of sign(v)|v|^(1/o) (Wu et al. 2023): (1/o) |v|^((1-o)/o) for 0.1 < |v| <= t, the
    secant slope 0.1^(1/o) / 0.1 for |v| <= 0.1 (where the power law is unbounded), 0 beyond t."""
    a = v.abs()
    inner = RESTE_INTERVAL ** (1.0 / o) / RESTE_INTERVAL
    power = a.clamp_min(RESTE_INTERVAL).pow((1.0 - o) / o).div_(o)
    return torch.where(a <= RESTE_INTERVAL, inner, torch.where(a <= t, power, 0.0))


class _IdentitySign(torch.autograd.Function):
    """sign(v) (+1 at 0) with the plain straight-through gradient (no clipping)."""

    @staticmethod
    def forward(ctx, v: Tensor) -> Tensor:
        return torch.where(v >= 0, 1.0, -1.0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad


def identity_sign(v: Tensor) -> Tensor:
    """sign with the identity gradient (ReCU's and BiDet's weight sign)."""
    return _IdentitySign.apply(v)


def approx_sign_grad(v: Tensor) -> Tensor:
    """Bi-Real ApproxSign derivative: 2 + 2v on [-1, 0), 2 - 2v on [0, 1), 0 elsewhere."""
    return (2 - 2 * v.abs()).clamp_min(0)


def clip_ste(v: Tensor) -> Tensor:
    """sign with the clipped straight-through gradient 1_{|v| <= 1} (Hubara et al. 2016)."""
    return _ClipSTE.apply(v)


def approx_sign(v: Tensor) -> Tensor:
    """sign with Bi-Real's ApproxSign gradient (Liu et al. 2018, Eq. 5)."""
    return _ApproxSign.apply(v)


def sba(v: Tensor, beta: Tensor) -> Tensor:
    """sign with BiSRNet's SBA gradient beta (1 - tanh^2(beta v)); beta gets a gradient too."""
    return _SBA.apply(v, beta)


def ede(v: Tensor, t: float, k: float) -> Tensor:
    """sign with IR-Net's EDE gradient k t (1 - tanh^2(t v))."""
    return _ScheduledSign.apply(v, ede_grad, t, k)


def reste(v: Tensor, t: float, o: float) -> Tensor:
    """sign with ReSTE's rectified straight-through gradient (power 1/o, clipped at |v| = t)."""
    return _ScheduledSign.apply(v, reste_grad, t, o)


def training_aware(v: Tensor, t: float, k: float) -> Tensor:
    """sign with RBNN's training-aware approximation: gradient k (sqrt(2) t - t^2 |v|), >= 0."""
    return _ScheduledSign.apply(v, training_aware_grad, t, k)


def ede_schedule(epoch: int, max_epochs: int, t_min: float = 1e-3, t_max: float = 10.0) -> tuple[float, float]:
    """EDE parameters at `epoch` of `max_epochs`: t log-linear from t_min to t_max, k = max(1/t, 1).

    t = 10^(log10 t_min + (log10 t_max - log10 t_min) e/E) (IR-Net's `Log_UP`); the defaults
    1e-3 .. 10 are AdaBin's and IR-Net's ResNet-20 trainer's (its VGG-Small uses 0.1 .. 10), RBNN's
    0.01 .. 10.
    """
    lo, hi = math.log10(t_min), math.log10(t_max)
    t = 10.0 ** (lo + (hi - lo) * epoch / max(max_epochs, 1))
    return t, max(1.0 / t, 1.0)
