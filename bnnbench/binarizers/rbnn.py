"""`rbnn` (Lin et al. 2020, RBNN): rotated binary weights, a learned scale, and the
training-aware sign approximation annealed per epoch, as the authors' released code."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from bnnbench.binarizers.base import ActivationBinarizer
from bnnbench.binarizers.registry import BINARIZERS
from bnnbench.binarizers.standardized import standardized_sign
from bnnbench.binarizers.ste import ede_schedule, sign, training_aware, training_aware_grad
from bnnbench.binarizers.weights import (
    WEIGHT_BINARIZERS,
    LearnedScaleWeight,
    channel_stats,
    standardize,
    standardize_grad,
)
from bnnbench.core.codes import ActivationCode, static_code
from bnnbench.core.elementwise import per_sample

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


REFITS = ("epoch", "step")
THETA_INITS = ("half_pi", "uniform")


@WEIGHT_BINARIZERS.register("rbnn")
class RBNNWeight(_Anneal, LearnedScaleWeight):
    """alpha_o sign(W3), W3 = W_std + |sin(theta_o)| (R1^T X R2 - W_std).detach(), X = W_std viewed
    as (C_out, a, b), W_std standardised per output channel (mean, unbiased std, with gradient).

    R1 (a x a) and R2 (b x b) are orthogonal buffers fitted by RBNN's alternating updates
    (B = sign(R1^T X R2), then R1 and R2 from SVDs, three rounds). As the released code
    (lmbxmu/RBNN@6c96079, cifar/modules/binarized_modules.py and cifar/main.py, whose trainer
    sets each conv's epoch at the start of an epoch and -1 from its second batch): they are
    re-fitted on the first training forward of each epoch (`refit="epoch"`), theta starts at
    pi/2, alpha at mean|W|, and the sign takes the training-aware gradient k (sqrt 2 t - t^2 |v|)_+.
    The commit the paper's code was first cited at (75a304b) re-fits on every training forward
    (its epoch is -1 after the first batch, and -1 % 1 == 0) and draws theta uniform in
    [0, pi/2): `refit="step", theta_init="uniform"`. Evaluation never re-fits (the codes do
    when their epoch allows; evaluating does not change the model here).
    """

    def __init__(self, refit: str = "epoch", theta_init: str = "half_pi") -> None:
        super().__init__()
        if refit not in REFITS:
            raise ValueError(f"rbnn refit must be one of {', '.join(REFITS)}, got {refit!r}")
        if theta_init not in THETA_INITS:
            raise ValueError(f"rbnn theta_init must be one of {', '.join(THETA_INITS)}, got {theta_init!r}")
        self.refit, self.theta_init = refit, theta_init
        self.epoch, self.fitted_epoch = 0, -1
        self.set_epoch(0, 1)

    def set_epoch(self, epoch: int, max_epochs: int) -> None:
        """t, k at `epoch`, and which epoch the next training forward re-fits the rotation for."""
        super().set_epoch(epoch, max_epochs)
        self.epoch = epoch

    def bind(self, weight: Tensor) -> None:
        super().bind(weight)
        c_out = weight.shape[0]
        self.a, self.b = factor_pair(weight[0].numel())
        self.register_buffer("r1", random_rotation(self.a).to(weight))
        self.register_buffer("r2", random_rotation(self.b).to(weight))
        start = torch.ones(c_out, 1, 1, 1) if self.theta_init == "half_pi" else torch.rand(c_out, 1, 1, 1)
        self.theta = nn.Parameter((start * (math.pi / 2)).to(weight.dtype))

    @torch.no_grad()
    def fit_rotation(self, x: Tensor) -> None:
        """RBNN's alternating minimisation of ||B - R1^T X R2|| over B, R1, R2 (three rounds)."""
        for _ in range(ROTATION_STEPS):
            b = sign(self.r1.T @ x @ self.r2)
            u1, _, vh1 = torch.linalg.svd((b @ self.r2.T @ x.transpose(1, 2)).sum(0))
            self.r1.copy_(vh1.T @ u1.T)
            u2, _, vh2 = torch.linalg.svd((x.transpose(1, 2) @ self.r1 @ b).sum(0))
            self.r2.copy_(u2 @ vh2)

    def _refit_now(self) -> bool:
        """Whether this training forward re-fits R1, R2 (every one, or the first of each epoch)."""
        if self.refit == "step":
            return True
        if self.fitted_epoch == self.epoch:
            return False
        self.fitted_epoch = self.epoch
        return True

    def sign_source(self, w: Tensor) -> Tensor:
        """W3 = W_std + |sin theta| (R1^T X R2 - W_std) (the rotation as it stands)."""
        w_std = standardize(w)
        x = w_std.detach().reshape(w.shape[0], self.a, self.b)
        rotated = (self.r1.T @ x @ self.r2).reshape_as(w)
        return w_std + torch.sin(self.theta).abs() * (rotated - w_std)

    def forward(self, w: Tensor) -> Tensor:
        if self.training and self._refit_now():
            with torch.no_grad():
                self.fit_rotation(standardize(w).reshape(w.shape[0], self.a, self.b))
        return _RBNNSign.apply(w, self.alpha, self.theta, self.r1.clone(), self.r2.clone(), self.t, self.k)


@BINARIZERS.register("rbnn")
class RBNN(_Anneal, ActivationBinarizer):
    """RBNN activations: sign of the per-sample standardised activation (x - mean) / std over
    (C, H, W), with the training-aware gradient (sqrt 2 t' - t'^2 |v|)_+ at t' = max(t, 1), k = 1,
    through the statistics; weights `rbnn` (t from 0.01 to 10 over training, k = max(1/t, 1)).

    As the released code (lmbxmu/RBNN@6c96079, `BinaryQuantize_a` on a2 = (a - mean) / std,
    unbiased, no epsilon). `standardize=False` is the cited commit 75a304b's: sign(x) with the
    weights' k (sqrt 2 t - t^2 |x|)_+ (and an export rule: its threshold needs no statistics).
    """

    weight = "rbnn"

    def __init__(self, channels: int, standardize: bool = True) -> None:
        super().__init__(channels)
        self.standardize = bool(standardize)
        self.set_epoch(0, 1)

    def forward(self, x: Tensor) -> Tensor:
        if self.standardize:
            return standardized_sign(x, center=True, eps=0.0, ta=(max(self.t, 1.0), 1.0))
        return training_aware(x, self.t, self.k)

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """Standardised: the mean over (C, H, W) and x - mean, two per element (the division by
        the std cannot change the bit); else none."""
        return 2 * per_sample(in_shape) if self.standardize else 0

    @torch.no_grad()
    def export_code(self) -> ActivationCode | None:
        """Bits x >= 0, levels +-1 (the surrogate only changes the backward); none for the
        standardised form (its threshold is a per-sample mean, a run-time statistic)."""
        if self.standardize:
            return None
        return static_code(lambda t: t >= 0, self.channels)
