"""`rbnn` (Lin et al. 2020, RBNN): rotated binary weights, a learned scale, and the
training-aware sign approximation annealed per epoch."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from bnnbench.binarizers.base import ActivationBinarizer
from bnnbench.binarizers.registry import BINARIZERS
from bnnbench.binarizers.ste import ede_schedule, sign, training_aware, training_aware_grad
from bnnbench.binarizers.weights import (
    WEIGHT_BINARIZERS,
    LearnedScaleWeight,
    channel_stats,
    standardize,
    standardize_grad,
)

if TYPE_CHECKING:
    from bnnbench.export.codes import ActivationCode


# lmbxmu/RBNN@3674aa0 (cifar/utils/options.py): Tmin 1e-2, Tmax 1e1
T_MIN, T_MAX = 1e-2, 10.0
_FAN_IN = (1, 2, 3)
ROTATION_STEPS = 3  # alternating updates of B, R1, R2 per forward (cifar/modules/binarized_modules.py)


def factor_pair(n: int) -> tuple[int, int]:
    """(a, b) with a * b = n and a the largest divisor of n not above sqrt(n) (RBNN's `get_ab`)."""
    for a in range(math.isqrt(n), 0, -1):
        if n % a == 0:
            return a, n // a
    return 1, n


def random_rotation(n: int) -> Tensor:
    """A random n x n orthogonal matrix (Haar, as scipy's ortho_group)."""
    q, r = torch.linalg.qr(torch.randn(n, n))
    return q * torch.where(torch.diagonal(r) >= 0, 1.0, -1.0)


class _Anneal:
    """t, k of RBNN's schedule: t = 10^(log t_min + (log t_max - log t_min) e/E), k = max(1/t, 1)."""

    def set_epoch(self, epoch: int, max_epochs: int) -> None:
        """t and k at `epoch` of `max_epochs` (called once per epoch by the binarizer callback)."""
        self.t, self.k = ede_schedule(epoch, max_epochs, T_MIN, T_MAX)


def _rotated_mix(w: Tensor, theta: Tensor, r1: Tensor, r2: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(W3, W_std, rotated, sigma): W3 = W_std + |sin theta| (R1^T W_std R2 - W_std), rotation detached."""
    mean, sigma = channel_stats(w)
    u = (w - mean) / sigma
    rotated = (r1.T @ u.reshape(w.shape[0], r1.shape[0], r2.shape[0]) @ r2).reshape_as(w)
    return u + theta.sin().abs() * (rotated - u), u, rotated, sigma


class _RBNNSign(torch.autograd.Function):
    """alpha sign(W3) with the training-aware gradient, through W3 to W, alpha and theta, as one Function.

    Saves W, alpha, theta, two numbers per output channel and copies of R1, R2 (a x a and b x b,
    copied because the next training forward re-fits them in place); autograd through the
    expression keeps five weight-sized tensors. With g_v = g alpha ta'(W3):
    dL/dalpha = sum(g sign W3), dL/dtheta = sum(g_v (rotated - W_std)) sign(sin theta) cos theta,
    dL/dW = standardize_grad(g_v (1 - |sin theta|)).
    """

    @staticmethod
    def forward(ctx, w: Tensor, alpha: Tensor, theta: Tensor, r1: Tensor, r2: Tensor, t: float, k: float) -> Tensor:
        w3 = _rotated_mix(w, theta, r1, r2)[0]
        ctx.save_for_backward(w, alpha, theta, r1, r2)
        ctx.t, ctx.k = t, k
        return torch.where(w3 >= 0, alpha, -alpha)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor, Tensor, None, None, None, None]:
        w, alpha, theta, r1, r2 = ctx.saved_tensors
        w3, u, rotated, sigma = _rotated_mix(w, theta, r1, r2)
        g_alpha = (grad * torch.where(w3 >= 0, 1.0, -1.0)).sum(dim=_FAN_IN, keepdim=True)
        g_v = grad * alpha * training_aware_grad(w3, ctx.t, ctx.k)
        sin = theta.sin()
        g_theta = (g_v * (rotated - u)).sum(dim=_FAN_IN, keepdim=True) * torch.sign(sin) * theta.cos()
        g_w = standardize_grad(g_v * (1 - sin.abs()), u, sigma)
        return g_w, g_alpha, g_theta, None, None, None, None


@WEIGHT_BINARIZERS.register("rbnn")
class RBNNWeight(_Anneal, LearnedScaleWeight):
    """alpha_o sign(W3), W3 = W_std + |sin(theta_o)| (R1^T X R2 - W_std).detach(), X = W_std viewed
    as (C_out, a, b), W_std standardised per output channel (mean, unbiased std, with gradient).

    R1 (a x a) and R2 (b x b) are orthogonal buffers fitted by RBNN's alternating updates
    (B = sign(R1^T X R2), then R1 and R2 from SVDs) on every training forward: the authors'
    check `epoch % rotation_update == 0` also holds for their epoch = -1, so with the default
    interval 1 their code re-fits at every iteration (also in evaluation; we skip evaluation so
    that evaluating does not change the model). theta init uniform [0, pi/2), alpha init mean|W|,
    sign with the training-aware gradient k (sqrt 2 t - t^2 |v|)_+
    (lmbxmu/RBNN@75a304b, cifar/modules/binarized_modules.py).
    """

    def __init__(self) -> None:
        super().__init__()
        self.set_epoch(0, 1)

    def bind(self, weight: Tensor) -> None:
        super().bind(weight)
        c_out = weight.shape[0]
        self.a, self.b = factor_pair(weight[0].numel())
        self.register_buffer("r1", random_rotation(self.a).to(weight))
        self.register_buffer("r2", random_rotation(self.b).to(weight))
        self.theta = nn.Parameter(torch.rand(c_out, 1, 1, 1, dtype=weight.dtype) * (math.pi / 2))

    @torch.no_grad()
    def fit_rotation(self, x: Tensor) -> None:
        """RBNN's alternating minimisation of ||B - R1^T X R2|| over B, R1, R2 (three rounds)."""
        for _ in range(ROTATION_STEPS):
            b = sign(self.r1.T @ x @ self.r2)
            u1, _, vh1 = torch.linalg.svd((b @ self.r2.T @ x.transpose(1, 2)).sum(0))
            self.r1.copy_(vh1.T @ u1.T)
            u2, _, vh2 = torch.linalg.svd((x.transpose(1, 2) @ self.r1 @ b).sum(0))
            self.r2.copy_(u2 @ vh2)

    def sign_source(self, w: Tensor) -> Tensor:
        """W3 = W_std + |sin theta| (R1^T X R2 - W_std), R re-fitted first in training."""
        w_std = standardize(w)
        x = w_std.detach().reshape(w.shape[0], self.a, self.b)
        if self.training:
            self.fit_rotation(x)
        rotated = (self.r1.T @ x @ self.r2).reshape_as(w)
        return w_std + torch.sin(self.theta).abs() * (rotated - w_std)

    def forward(self, w: Tensor) -> Tensor:
        if self.training:
            with torch.no_grad():
                self.fit_rotation(standardize(w).reshape(w.shape[0], self.a, self.b))
        return _RBNNSign.apply(w, self.alpha, self.theta, self.r1.clone(), self.r2.clone(), self.t, self.k)


@BINARIZERS.register("rbnn")
class RBNN(_Anneal, ActivationBinarizer):
    """RBNN activations: sign(x) with the training-aware gradient k (sqrt 2 t - t^2 |x|)_+,
    t from 0.01 to 10 over training, k = max(1/t, 1); weights `rbnn` (same t, k)."""

    weight = "rbnn"

    def __init__(self, channels: int) -> None:
        super().__init__(channels)
        self.set_epoch(0, 1)

    def forward(self, x: Tensor) -> Tensor:
        return training_aware(x, self.t, self.k)

    @torch.no_grad()
    def export_code(self) -> ActivationCode:
        """Bits x >= 0, levels +-1 (the surrogate only changes the backward)."""
        from bnnbench.export.codes import static_code

        return static_code(lambda t: t >= 0, self.channels)
