"""`adabin` (Tu et al. 2022): a layer-wise learnable centre and spread; weights `adabin`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from bnnbench.binarizers.base import ActivationBinarizer
from bnnbench.binarizers.registry import BINARIZERS
from bnnbench.binarizers.ste import approx_sign_grad, sign
from bnnbench.core.codes import ActivationCode, static_code
from bnnbench.core.elementwise import per_sample

CENTERS = ("code", "paper")


class _AdaBinActivation(torch.autograd.Function):
    """`AdaBin.levels(sign(v))`, v = (x - beta) / alpha, ApproxSign backward, as one Function.

    Saves x alone (autograd through the expression keeps x - beta, v and the levels). With
    e = ApproxSign'(v): dy/dx = e; "code" y = alpha (s + beta): dy/dalpha = s + beta - e v,
    dy/dbeta = alpha - e; "paper" y = alpha s + beta: dy/dalpha = s - e v, dy/dbeta = 1 - e.
    """

    @staticmethod
    def forward(ctx, x: Tensor, alpha: Tensor, beta: Tensor, code: bool) -> Tensor:
        ctx.save_for_backward(x, alpha, beta)
        ctx.code = code
        s = sign((x - beta) / alpha)
        return alpha * (s + beta) if code else alpha * s + beta

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor, Tensor, None]:
        x, alpha, beta = ctx.saved_tensors
        v = (x - beta) / alpha
        e = approx_sign_grad(v)
        g_e = grad * e
        g_s = (grad * sign(v)).sum()
        g_ev = (g_e * v).sum()
        if ctx.code:
            g_alpha = g_s + beta * grad.sum() - g_ev
            g_beta = alpha * grad.sum() - g_e.sum()
        else:
            g_alpha = g_s - g_ev
            g_beta = grad.sum() - g_e.sum()
        return g_e, g_alpha.reshape(alpha.shape), g_beta.reshape(beta.shape), None


@BINARIZERS.register("adabin")
class AdaBin(ActivationBinarizer):
    """AdaBin activations with scalars `alpha` (init 1) and `beta` (init 0), ApproxSign backward.

    center="code" (default, the official code): alpha * (sign((x - beta)/alpha) + beta), whose
    two levels are centred on alpha*beta; center="paper" (AdaBin Eq. 6): the set
    {beta - alpha, beta + alpha}, i.e. alpha * sign((x - beta)/alpha) + beta.
    """

    weight = "adabin"
    weight_init = "fan_out_normal"  # official code: normal(0, sqrt(2 / (k*k*C_out)))
    symmetric_levels = False  # two levels centred on alpha*beta (or beta), not on 0

    def __init__(self, channels: int, center: str = "code") -> None:
        super().__init__(channels)
        if center not in CENTERS:
            raise ValueError(f"adabin center must be one of {CENTERS}, got {center!r}")
        self.center = center
        self.alpha = nn.Parameter(torch.ones(()))
        self.beta = nn.Parameter(torch.zeros(()))

    def levels(self, s: Tensor) -> Tensor:
        """The output for signs s = +-1 (the centre option's expression)."""
        if self.center == "code":
            return self.alpha * (s + self.beta)
        return self.alpha * s + self.beta

    def forward(self, x: Tensor) -> Tensor:
        return _AdaBinActivation.apply(x, self.alpha, self.beta, self.center == "code")

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """Four per element: (x - beta), / alpha (alpha is learned, its sign may flip the bit),
        and the two levels' + beta and * alpha."""
        return 4 * per_sample(in_shape)

    @torch.no_grad()
    def export_code(self) -> ActivationCode:
        """Bits (x - beta) / alpha >= 0; level and offset from the two outputs `levels` gives."""
        alpha, beta = (p.detach().float().cpu() for p in (self.alpha, self.beta))
        hi, lo = (float(v) for v in self.levels(torch.tensor([1.0, -1.0], device=self.alpha.device)).cpu())
        return static_code(lambda t: (t - beta) / alpha >= 0, self.channels, (hi - lo) / 2, (hi + lo) / 2)
