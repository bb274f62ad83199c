"""`xnorpp` (Bulat & Tzimiropoulos 2019, XNOR-Net++): a learned output scale on the binary conv,
times XNOR's analytic weight scale as the first author's library does it."""

from __future__ import annotations

import torch
from torch import Tensor

from bnnbench.binarizers.base import ActivationBinarizer
from bnnbench.binarizers.registry import BINARIZERS
from bnnbench.binarizers.ste import clip_ste
from bnnbench.binarizers.weights import _FAN_IN, WEIGHT_BINARIZERS, LearnedScaleWeight
from bnnbench.core.codes import ActivationCode, static_code


def _centred(w: Tensor, center: bool) -> Tensor:
    """W centred over its input channels for each (output channel, kernel position), or W."""
    return w - w.mean(1, keepdim=True) if center else w


def analytic_scale(w_c: Tensor) -> Tensor:
    """XNOR-Net's alpha_o = mean |W_c| over the fan-in, detached (a constant to the gradient)."""
    return w_c.detach().abs().mean(_FAN_IN, keepdim=True)


class _GammaSign(torch.autograd.Function):
    """Gamma a sign(W_c) with the clipped STE, in one Function that saves W (a parameter, no new
    memory), Gamma and a: the composed form would keep weight-sized W_c, sign(W_c) and the STE
    mask for the backward, 40M floats each on the full ConvNeXt-UPerNet.

    W_c = W - mean_(C_in) W when centring, a = mean|W_c| (detached) when analytic, else 1.
    dL/dGamma_o = sum g a sign(W_c); dL/dW_c = g Gamma a 1_{|W_c| <= 1}, then through the centring
    dL/dW = dL/dW_c - mean_(C_in) dL/dW_c."""

    @staticmethod
    def forward(ctx, w: Tensor, gamma: Tensor, center: bool, analytic: bool) -> Tensor:
        w_c = _centred(w, center)
        a = analytic_scale(w_c) if analytic else torch.ones_like(gamma)
        scale = gamma * a
        ctx.save_for_backward(w, gamma, a)
        ctx.center = center
        return torch.where(w_c >= 0, scale, -scale)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor, None, None]:
        w, gamma, a = ctx.saved_tensors
        w_c = _centred(w, ctx.center)
        grad_w = torch.where(w_c.abs() <= 1, grad * (gamma * a), 0)
        if ctx.center:
            grad_w = grad_w - grad_w.mean(1, keepdim=True)
        # d/dGamma_o = a_o sum over the fan-in of g sign(W_c) = a_o (2 sum(g where W_c >= 0) - sum(g))
        signed = 2 * torch.where(w_c >= 0, grad, 0).sum(_FAN_IN, keepdim=True) - grad.sum(_FAN_IN, keepdim=True)
        return grad_w, signed * a, None, None


@WEIGHT_BINARIZERS.register("xnorpp")
class XNORPPWeight(LearnedScaleWeight):
    """Gamma_o a_o sign(W_c): XNOR-Net++'s learned scale Gamma times XNOR-Net's analytic a_o =
    mean|W_c| (detached), W_c the weights centred over their input channels.

    As the first author's library, 1adrianb/binary-networks-pytorch@176424f
    (examples/recepies/xnor-net-plus.yaml, step 1: `XNORWeightBinarizer(compute_alpha=True,
    center_weights=True)` in bnn/ops.py, and `BasicScaleBinarizer`, a learned per-output-channel
    scale initialised to 1 on the conv's output). conv(sign(x), sign(W_c)) * Gamma (XNOR-Net++
    Eq. 5 with Gamma in R^{C_out}) is written as a scaled weight; sign(W_c) takes the clipped STE
    (dL/dW_c = Gamma a dL/dW_b 1_{|W_c| <= 1}), the gradient reaches W through the centring.
    `analytic_scale=False, center=False` is the paper's form alone: Gamma sign(W), Gamma init
    mean|W|. The paper's best variant factorises Gamma = alpha x beta x gamma over (C_out, H_out,
    W_out); we keep the per-output-channel factor, which does not depend on the input resolution.
    """

    def __init__(self, analytic_scale: bool = True, center: bool = True) -> None:
        super().__init__()
        self.analytic, self.center = bool(analytic_scale), bool(center)

    def extra_repr(self) -> str:
        return f"analytic_scale={self.analytic}, center={self.center}"

    def initial_alpha(self, w: Tensor) -> Tensor:
        """Gamma at init: 1 beside the analytic scale (the library's), else mean|W| (XNOR-Net's)."""
        return torch.ones_like(super().initial_alpha(w)) if self.analytic else super().initial_alpha(w)

    def scale(self, w: Tensor) -> Tensor:
        w_c = _centred(w.detach(), self.center)
        return self.alpha.detach() * (analytic_scale(w_c) if self.analytic else 1.0)

    def sign_source(self, w: Tensor) -> Tensor:
        return _centred(w, self.center)

    def forward(self, w: Tensor) -> Tensor:
        return _GammaSign.apply(w, self.alpha, self.center, self.analytic)


@BINARIZERS.register("xnorpp")
class XNORPP(ActivationBinarizer):
    """XNOR-Net++ activations: sign(x) with the clipped STE, no activation scale; weights `xnorpp`."""

    weight = "xnorpp"

    def forward(self, x: Tensor) -> Tensor:
        return clip_ste(x)

    @torch.no_grad()
    def export_code(self) -> ActivationCode:
        """Bits x >= 0, levels +-1 (the surrogate only changes the backward)."""
        return static_code(lambda t: t >= 0, self.channels)


__all__ = ["XNORPP", "XNORPPWeight"]
