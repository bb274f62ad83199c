"""Weight binarizers: how a (C_out, C_in/g, k, k) weight becomes its binary form."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from bnnbench.binarizers.ste import ede_grad, ede_schedule, identity_sign
from bnnbench.core.codes import WeightCode
from bnnbench.core.registry import WEIGHT_BINARIZERS

_FAN_IN = (1, 2, 3)  # statistics per output channel over (C_in/g, k, k), grouped convs included


GRADS = ("ste", "scaled", "xnor")


def standardize(w: Tensor, eps: float = 0.0) -> Tensor:
    """(W - mean) / sqrt(var + eps) per output channel over (C_in/g, k, k), var unbiased, with gradient.

    IR-Net and RBNN divide by the std (eps 0), ReCU and SiMaN by sqrt(var + 1e-5). A filter of one
    weight (depth-wise 1x1) has no unbiased variance: it centres to 0 and stays 0 here, where the
    authors' code would give NaN.
    """
    n = w[0].numel()
    centred = w - w.mean(dim=_FAN_IN, keepdim=True)
    var = centred.var(dim=_FAN_IN, keepdim=True, correction=1 if n > 1 else 0)
    return centred / (var + eps).sqrt().clamp_min(1e-12)


def channel_stats(w: Tensor, eps: float = 0.0, correction: int = 1, floor: float = 1e-12) -> tuple[Tensor, Tensor]:
    """(mean, sigma) per output channel, sigma = sqrt(var + eps) clamped at `floor`, var with
    `correction` (1: unbiased; 0 for a one-weight filter, which has no unbiased variance)."""
    n = w[0].numel()
    mean = w.mean(dim=_FAN_IN, keepdim=True)
    var = (w - mean).var(dim=_FAN_IN, keepdim=True, correction=correction if n > correction else 0)
    return mean, (var + eps).sqrt().clamp_min(floor)


def standardize_grad(h: Tensor, u: Tensor, sigma: Tensor, correction: int = 1) -> Tensor:
    """dL/dW of u = (W - mean) / sigma per output channel, given h = dL/du (sigma as `channel_stats`).

    dL/dW_j = (h_j - mean(h) - u_j sum(h u) / (n - correction)) / sigma; written by hand so that a
    fused weight binarizer saves W and two numbers per channel, not autograd's weight-sized
    intermediates (the centred and the standardised weight).
    """
    n = u[0].numel()
    d = n - correction if n > correction else n
    h_mean = h.mean(dim=_FAN_IN, keepdim=True)
    h_dot = (h * u).sum(dim=_FAN_IN, keepdim=True) / d
    return (h - h_mean - u * h_dot) / sigma


class _ScaledSign(torch.autograd.Function):
    """scale * sign(W) with a clipped-STE gradient, scale = mean|W| per output channel (or 1), detached.

    Saves W itself (a parameter, so no extra memory) instead of a mask, and takes three passes
    over the weights instead of seven: binarizing 40M weights every step is not free on CPU.
    `grad` "ste": dL/dW = g 1_{|W| <= 1}, unscaled, as the authors' code of ReActNet, Bi-Real,
    BiDense and BiSRNet computes it with (alpha sign W).detach() - clamp(W).detach() + clamp(W);
    "scaled": g alpha 1_{|W| <= 1} (alpha held constant); "xnor": g (alpha 1_{|W| <= 1} + 1/n),
    XNOR-Net's weight gradient (Rastegari et al. 2016, Sec. 3.2), n = C_in/g k k.
    """

    @staticmethod
    def forward(ctx, w: Tensor, scaled: bool, grad: str = "ste") -> Tensor:
        if scaled:
            scale = mean_abs(w)
        else:
            scale = torch.ones((), dtype=w.dtype, device=w.device)
        ctx.save_for_backward(w, scale)
        ctx.grad = grad
        return torch.where(w >= 0, scale, -scale)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:
        w, scale = ctx.saved_tensors
        if ctx.grad == "ste":
            return torch.where(w.abs() <= 1, grad, 0), None, None
        out = torch.where(w.abs() <= 1, grad * scale, 0)
        if ctx.grad == "xnor":
            out = out + grad / w[0].numel()
        return out, None, None


def mean_abs(w: Tensor) -> Tensor:
    """mean|W| per output channel, shape (C_out, 1, 1, 1): the one expression training and export use."""
    return torch.linalg.vector_norm(w, ord=1, dim=_FAN_IN, keepdim=True) / w[0].numel()


class WeightBinarizer(nn.Module):
    """Maps a real weight to the weight the conv uses; `binary` says whether it is 1-bit."""

    binary: bool = True

    def scale(self, w: Tensor) -> Tensor | None:
        """Per-output-channel scale of the binary weight (None when there is none)."""
        return None

    def export_code(self, w: Tensor) -> WeightCode | None:
        """The binary form of `w` as sign source, scale and offset (`bnnbench.core.codes`); None: no export rule."""
        return None

    def bind(self, weight: Tensor) -> None:
        """Create state sized by the conv's weight (called once by the conv, after its init)."""


class LearnedScaleWeight(WeightBinarizer):
    """A binary weight times a learnable per-output-channel scale `alpha` (C_out, 1, 1, 1).

    Multiplying the weight by alpha_o is multiplying the conv's output channel o by it, which
    is how XNOR-Net++, ReCU, RBNN and SiMaN write their learned scale. `alpha` is created by
    `bind`, init mean|W| per output channel unless a subclass says otherwise.
    """

    def bind(self, weight: Tensor) -> None:
        self.alpha = nn.Parameter(self.initial_alpha(weight.detach()))

    def initial_alpha(self, w: Tensor) -> Tensor:
        """alpha at init: mean|W| per output channel (RBNN's and SiMaN's code)."""
        return w.abs().mean(dim=_FAN_IN, keepdim=True)

    def scale(self, w: Tensor) -> Tensor:
        return self.alpha.detach()

    def sign_source(self, w: Tensor) -> Tensor:
        """The tensor whose sign (+1 at 0) is the binary weight before the scale."""
        return w

    @torch.no_grad()
    def export_code(self, w: Tensor) -> WeightCode:
        """Bits `sign_source(W)` >= 0, scale `scale(W)` (alpha, or alpha times an analytic factor);
        an unbound binarizer answers for a bound copy."""
        bound = self
        if not hasattr(self, "alpha"):
            bound = copy.deepcopy(self)
            bound.bind(w)
        bound = bound.eval() if bound is not self else bound
        w = w.detach().float()
        return WeightCode(bound.sign_source(w), bound.scale(w).float().reshape(-1))


@WEIGHT_BINARIZERS.register("identity")
class IdentityWeight(WeightBinarizer):
    """Real weights: the 32-bit baseline, or step 1 of ReActNet's two-step recipe."""

    binary = False

    def forward(self, w: Tensor) -> Tensor:
        return w


def sign_ste(w: Tensor) -> Tensor:
    """sign(W) with the clipped STE g 1_{|W| <= 1}, saving only W."""
    return _ScaledSign.apply(w, False)


@WEIGHT_BINARIZERS.register("sign")
class SignWeight(WeightBinarizer):
    """sign(W) with the clipped STE, no scale (BNN, Hubara et al. 2016)."""

    def forward(self, w: Tensor) -> Tensor:
        return sign_ste(w)

    @torch.no_grad()
    def export_code(self, w: Tensor) -> WeightCode:
        """Bits W >= 0, scale 1."""
        return WeightCode(w.detach().float(), torch.ones(w.shape[0]))


@WEIGHT_BINARIZERS.register("meanabs")
class MeanAbsWeight(WeightBinarizer):
    """alpha_w sign(W), alpha_w = mean|W| per output channel, detached; clipped STE unscaled.

    Forward (ReActNet Eq. 2, BiDense Eq. 2): alpha_w sign(W). Pseudo-gradient, as the authors'
    code of ReActNet (liuzechun/ReActNet@f89e570, mobilenet/2_step2/reactnet.py), Bi-Real, BiDense
    and BiSRNet computes it:
    dL/dW = dL/dW_b * 1_{|W| <= 1}, not multiplied by alpha_w (`meanabs_scaled` multiplies).
    """

    grad = "ste"

    def scale(self, w: Tensor) -> Tensor:
        return mean_abs(w.detach())

    def forward(self, w: Tensor) -> Tensor:
        return _ScaledSign.apply(w, True, self.grad)

    @torch.no_grad()
    def export_code(self, w: Tensor) -> WeightCode:
        """Bits W >= 0, scale mean|W| per output channel."""
        w = w.detach().float()
        return WeightCode(w, mean_abs(w).reshape(-1))


@WEIGHT_BINARIZERS.register("meanabs_scaled")
class MeanAbsScaledWeight(MeanAbsWeight):
    """alpha_w sign(W) with the XNOR-style gradient dL/dW = alpha_w dL/dW_b 1_{|W| <= 1}.

    The derivative of alpha_w sign(W) through the clipped STE with alpha_w held constant
    (XNOR-Net's weight gradient without its 1/n term, see `xnor`); bnnbench's `meanabs` before it
    followed the authors' code. Choose it with `binarizer.weight=meanabs_scaled`.
    """

    grad = "scaled"


class _AdaBinSign(torch.autograd.Function):
    """alpha_w sign(v) + beta_w, v = (W - beta_w) / alpha_w, EDE through v and the statistics.

    One Function saving W and two numbers per output channel (autograd through the expression
    keeps three weight-sized tensors per conv). With g = dL/dout, e = EDE'(v), n = C_in/g k k:
    dL/dW = standardize_grad(g alpha_w e) + v sum(g sign v) / n + sum(g) / n, the last two terms
    from alpha_w = std (biased) and beta_w = mean taking gradient.
    """

    @staticmethod
    def forward(ctx, w: Tensor, t: float, k: float) -> Tensor:
        beta, alpha = channel_stats(w, correction=0, floor=1e-8)
        ctx.save_for_backward(w, beta, alpha)
        ctx.t, ctx.k = t, k
        return torch.where(w >= beta, beta + alpha, beta - alpha)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:
        w, beta, alpha = ctx.saved_tensors
        n = w[0].numel()
        v = (w - beta) / alpha
        s = torch.where(v >= 0, 1.0, -1.0).to(v.dtype)
        out = standardize_grad(grad * alpha * ede_grad(v, ctx.t, ctx.k), v, alpha, correction=0)
        out += v * (grad * s).sum(dim=_FAN_IN, keepdim=True) / n
        out += grad.sum(dim=_FAN_IN, keepdim=True) / n
        return out, None, None


@WEIGHT_BINARIZERS.register("adabin")
class AdaBinWeight(WeightBinarizer):
    """AdaBin weights: alpha_w sign((W - beta_w)/alpha_w) + beta_w, statistics not detached, EDE.

    beta_w = mean(W), alpha_w = std(W - beta_w) per output channel over (C_in/g, k, k)
    (the official code divides by k*k*C_in, wrong for grouped convs).
    """

    def __init__(self) -> None:
        super().__init__()
        self.t, self.k = ede_schedule(0, 1)

    def set_epoch(self, epoch: int, max_epochs: int) -> None:
        """Anneal the EDE surrogate (called once per epoch by the binarizer callback)."""
        self.t, self.k = ede_schedule(epoch, max_epochs)

    def stats(self, w: Tensor) -> tuple[Tensor, Tensor]:
        """(alpha_w, beta_w) per output channel."""
        beta, alpha = channel_stats(w, correction=0, floor=1e-8)  # the same statistics `_AdaBinSign` trains with
        return alpha, beta

    def scale(self, w: Tensor) -> Tensor:
        return self.stats(w.detach())[0]

    def forward(self, w: Tensor) -> Tensor:
        return _AdaBinSign.apply(w, self.t, self.k)

    @torch.no_grad()
    def export_code(self, w: Tensor) -> WeightCode:
        """Bits (W - beta_w) / alpha_w >= 0, scale alpha_w, offset beta_w."""
        alpha, beta = self.stats(w.detach().float())
        return WeightCode((w.detach().float() - beta) / alpha, alpha.reshape(-1), beta.reshape(-1))


@WEIGHT_BINARIZERS.register("bidet")
class BiDetWeight(MeanAbsWeight):
    """alpha_w sign(W), alpha_w = mean|W| per output channel NOT detached, sign with an
    identity STE: dL/dW = alpha_w g + sign(W)/n sum(g sign(W)) (autograd through alpha_w).

    As ZiweiWangTHU/BiDet@fc54511 (faster_rcnn/lib/model/faster_rcnn/binary_utils.py,
    BinarizeConv2d with weight_magnitude_aware=True). Export: the same bits and scale as meanabs.
    """

    def forward(self, w: Tensor) -> Tensor:
        return mean_abs(w) * identity_sign(w)  # BiDet's SignSTEWeight


def build_weight(name: str, **options: Any) -> WeightBinarizer:
    """Build the weight binarizer registered as `name` with its `options`."""
    return WEIGHT_BINARIZERS.build(name, **options)


__all__ = ["GRADS", "WEIGHT_BINARIZERS", "BiDetWeight", "LearnedScaleWeight", "MeanAbsWeight", "WeightBinarizer", "build_weight", "channel_stats", "sign_ste", "standardize", "standardize_grad"]
