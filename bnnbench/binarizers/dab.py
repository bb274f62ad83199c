"""`dab`: BiDense's Distribution-adaptive Binarizer (Yin et al. 2024, Eqs. 4-10)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from bnnbench.binarizers.base import ActivationBinarizer, channel_param
from bnnbench.binarizers.registry import BINARIZERS
from bnnbench.binarizers.ste import approx_sign
from bnnbench.core.codes import ActivationCode, DABStats, static_code
from bnnbench.core.elementwise import per_sample

THRESHOLDS = ("adaptive", "none", "learnable", "mean_only")
SCALES = ("adaptive", "none", "mad", "learnable")
_HW = (2, 3)


def adaptive_statistics(x: Tensor, k: Tensor, b: Tensor, a: Tensor) -> tuple[Tensor, ...]:
    """(mu, beta = k mu + b, x_s = x - beta, MAD = mean|x_s|, alpha = exp(a (MAD - 1))), per sample
    and channel over (H, W): BiDense Eqs. 5 and 10 as the fused adaptive/adaptive path computes them."""
    mu = x.mean(_HW, keepdim=True)
    thr = k * mu + b
    xs = x - thr
    mad = torch.linalg.vector_norm(xs, ord=1, dim=_HW, keepdim=True) / (xs.shape[2] * xs.shape[3])
    return mu, thr, xs, mad, torch.exp(a * (mad - 1))


class _DABFunction(torch.autograd.Function):
    """Full DAB in one Function: saves x and (N, C) statistics, recomputes x_s in backward.

    Written for few passes over the activation (the binarizer is memory-bound on CPU):
    forward 4, backward 8, none of them saving a full-size intermediate.
    """

    @staticmethod
    def forward(ctx, x: Tensor, k: Tensor, b: Tensor, a: Tensor) -> Tensor:
        mu, thr, xs, mad, alpha = adaptive_statistics(x, k, b, a)
        ctx.save_for_backward(x, mu, thr, mad, alpha)
        return torch.where(xs >= 0, alpha, -alpha)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        x, mu, thr, mad, alpha = ctx.saved_tensors
        xs = x - thr
        # sum over H, W of grad * sign(x_s) = 2 * sum(grad where x_s >= 0) - sum(grad)
        grad_sign = 2 * torch.where(xs >= 0, grad, 0).sum(_HW, keepdim=True) - grad.sum(_HW, keepdim=True)
        # ApproxSign: d sign / d x_s = 2 - 2|x_s| inside |x_s| < 1 (statistics detached)
        grad_xs = xs.abs_().neg_().add_(1).clamp_min_(0).mul_(grad).mul_(2 * alpha)
        per_sample = grad_xs.sum(_HW, keepdim=True)
        grad_a = (grad_sign * alpha * (mad - 1)).sum(0, keepdim=True)
        grad_k = -(per_sample * mu).sum(0, keepdim=True)
        grad_b = -per_sample.sum(0, keepdim=True)
        return grad_xs, grad_k, grad_b, grad_a


@BINARIZERS.register("dab")
class DAB(ActivationBinarizer):
    """B(x) = alpha(x_s) * sign(x_s), x_s = x - (k mu + b), alpha = exp(a (mean|x_s| - 1)).

    Statistics are per sample and per channel over (H, W), detached. Parameters `k`, `b`, `a`
    have shape (1, C, 1, 1); k and a init normal(std=1e-3), b init 0 (the authors' code; the
    paper calls a layer-wise). The switches reproduce BiDense Table 4 rows 3-8:
    threshold adaptive (k mu + b) | none | learnable (b) | mean_only (k mu);
    scale adaptive | none | mad (mean|x_s|) | learnable (a parameter alpha_c, init 1).
    """

    weight = "meanabs"
    weight_init = "normal_1e3"  # BiDense code: binary conv weights normal(std=1e-3)

    def __init__(
        self, channels: int, threshold: str = "adaptive", scale: str = "adaptive", init_std: float = 1e-3
    ) -> None:
        super().__init__(channels)
        if threshold not in THRESHOLDS:
            raise ValueError(f"dab threshold must be one of {THRESHOLDS}, got {threshold!r}")
        if scale not in SCALES:
            raise ValueError(f"dab scale must be one of {SCALES}, got {scale!r}")
        self.threshold, self.scale = threshold, scale
        if threshold in ("adaptive", "mean_only"):
            self.k = channel_param(channels, 0.0, init_std)
        if threshold in ("adaptive", "learnable"):
            self.b = channel_param(channels, 0.0)
        if scale == "adaptive":
            self.a = channel_param(channels, 0.0, init_std)
        elif scale == "learnable":
            self.alpha = channel_param(channels, 1.0)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, threshold={self.threshold}, scale={self.scale}"

    def shift(self, x: Tensor) -> Tensor:
        """The threshold beta(x) subtracted before the sign (BiDense Eq. 5 and its ablations)."""
        mu = x.detach().mean(_HW, keepdim=True)
        if self.threshold == "adaptive":
            return self.k * mu + self.b
        if self.threshold == "mean_only":
            return self.k * mu
        if self.threshold == "learnable":
            return self.b
        return torch.zeros((), dtype=x.dtype, device=x.device)

    def alpha_of(self, xs: Tensor) -> Tensor | None:
        """The scale alpha(x_s) (BiDense Eq. 10 and its ablations); None means 1."""
        if self.scale == "none":
            return None
        if self.scale == "learnable":
            return self.alpha
        mad = xs.detach().abs().mean(_HW, keepdim=True)
        return mad if self.scale == "mad" else torch.exp(self.a * (mad - 1))

    @property
    def fused(self) -> bool:
        """True when the forward runs the one-Function adaptive/adaptive path."""
        return self.threshold == "adaptive" and self.scale == "adaptive"

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """(beta(x), x_s = x - beta(x), alpha(x_s) or None) on the unfused path."""
        shift = self.shift(x)
        xs = x - shift
        return shift, xs, self.alpha_of(xs)

    def statistics(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """(threshold beta(x), scale alpha(x_s) or None) computed exactly as the forward does."""
        if self.fused:
            _, thr, _, _, alpha = adaptive_statistics(x, self.k, self.b, self.a)
            return thr, alpha
        shift, _, alpha = self._split(x)
        return shift, alpha

    def forward(self, x: Tensor) -> Tensor:
        if self.fused:
            return _DABFunction.apply(x, self.k, self.b, self.a)
        _, xs, alpha = self._split(x)
        out = approx_sign(xs)
        return out if alpha is None else alpha * out

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """Per element: the mean over (H, W) and x - beta for an adaptive threshold (x - b
        alone for a learnable one), the mean of |x_s| and alpha * sign for an adaptive or MAD
        scale (the product alone for a learnable one); per channel: k mu [+ b] and
        exp(a (MAD - 1))."""
        n, c = per_sample(in_shape), in_shape[1]
        threshold = {"adaptive": 2 * n + 2 * c, "mean_only": 2 * n + c, "learnable": n, "none": 0}
        scale = {"adaptive": 2 * n + 3 * c, "mad": 2 * n, "learnable": n, "none": 0}
        return threshold[self.threshold] + scale[self.scale]

    @torch.no_grad()
    def export_code(self) -> ActivationCode:
        """Static bits and scale where the switches make them static, else run-time `statistics`."""
        if self.threshold == "learnable":
            b = self.b.detach().float().cpu()
            code = static_code(lambda t: t - b >= 0, self.channels)
        else:  # none, or a run-time threshold (the static one is then unused)
            code = static_code(lambda t: t >= 0, self.channels)
        if self.scale == "learnable":
            code.channel_scale = self.alpha.detach().float().cpu().reshape(-1)
        stats = DABStats(self)
        if stats.runtime_threshold or stats.runtime_scale:
            code.stats = stats
        return code


__all__ = ["DAB", "SCALES", "THRESHOLDS"]
