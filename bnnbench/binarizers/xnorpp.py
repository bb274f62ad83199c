"""`xnorpp` (Bulat & Tzimiropoulos 2019, XNOR-Net++): a learned output scale instead of XNOR's
analytic weight and activation scales."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from bnnbench.binarizers.base import ActivationBinarizer
from bnnbench.binarizers.registry import BINARIZERS
from bnnbench.binarizers.ste import clip_ste
from bnnbench.binarizers.weights import _FAN_IN, WEIGHT_BINARIZERS, LearnedScaleWeight

if TYPE_CHECKING:
    from bnnbench.export.codes import ActivationCode



class _GammaSign(torch.autograd.Function):
    """Gamma sign(W) with the clipped STE, in one Function that saves W (a parameter, no new
    memory) and Gamma: `Gamma * sign_ste(W)` composed would keep a weight-sized sign(W) for
    Gamma's gradient, 40M floats on the full ConvNeXt-UPerNet."""

    @staticmethod
    def forward(ctx, w: Tensor, gamma: Tensor) -> Tensor:
        ctx.save_for_backward(w, gamma)
        return torch.where(w >= 0, gamma, -gamma)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor]:
        w, gamma = ctx.saved_tensors
        grad_w = torch.where(w.abs() <= 1, grad * gamma, 0)
        # d/dGamma_o = sum over the fan-in of g sign(W) = 2 sum(g where W >= 0) - sum(g)
        grad_gamma = 2 * torch.where(w >= 0, grad, 0).sum(_FAN_IN, keepdim=True) - grad.sum(_FAN_IN, keepdim=True)
        return grad_w, grad_gamma


@WEIGHT_BINARIZERS.register("xnorpp")
class XNORPPWeight(LearnedScaleWeight):
    """Gamma_o sign(W): XNOR-Net++'s scale Gamma learned by back-propagation, one per output channel.

    conv(sign(x), sign(W)) * Gamma (XNOR-Net++ Eq. 5 with Gamma in R^{C_out}) written as a scaled
    weight; sign(W) takes the clipped STE, so dL/dW = Gamma dL/dW_b 1_{|W| <= 1}. The authors'
    code is not public: the paper's best variant factorises Gamma = alpha x beta x gamma over
    (C_out, H_out, W_out); we keep the per-output-channel factor, which does not depend on the
    input resolution (dense prediction crops vary). Gamma init mean|W| (XNOR-Net's analytic scale).
    """

    def forward(self, w: Tensor) -> Tensor:
        return _GammaSign.apply(w, self.alpha)


@BINARIZERS.register("xnorpp")
class XNORPP(ActivationBinarizer):
    """XNOR-Net++ activations: sign(x) with the clipped STE, no activation scale; weights `xnorpp`."""

    weight = "xnorpp"

    def forward(self, x: Tensor) -> Tensor:
        return clip_ste(x)

    @torch.no_grad()
    def export_code(self) -> ActivationCode:
        """Bits x >= 0, levels +-1 (the surrogate only changes the backward)."""
        from bnnbench.export.codes import static_code

        return static_code(lambda t: t >= 0, self.channels)


__all__ = ["XNORPP", "XNORPPWeight"]
