"""Weight binarizers: how a (C_out, C_in/g, k, k) weight becomes its binary form."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from bnnbench.binarizers.ste import ede, ede_schedule
from bnnbench.registry import Registry

if TYPE_CHECKING:
    from bnnbench.export.codes import WeightCode

WEIGHT_BINARIZERS = Registry("weight binarizer")

_FAN_IN = (1, 2, 3)  # statistics per output channel over (C_in/g, k, k), grouped convs included


class _ScaledSign(torch.autograd.Function):
    """scale * sign(W) with the clipped STE, scale = mean|W| per output channel (or 1), detached.

    Saves W itself (a parameter, so no extra memory) instead of a mask, and takes three passes
    over the weights instead of seven: binarizing 40M weights every step is not free on CPU.
    """

    @staticmethod
    def forward(ctx, w: Tensor, scaled: bool) -> Tensor:
        if scaled:
            scale = mean_abs(w)
        else:
            scale = torch.ones((), dtype=w.dtype, device=w.device)
        ctx.save_for_backward(w, scale)
        return torch.where(w >= 0, scale, -scale)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        w, scale = ctx.saved_tensors
        return torch.where(w.abs() <= 1, grad * scale, 0), None


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
        """The binary form of `w` as sign source, scale and offset (`bnnbench.export.codes`); None: no export rule."""
        return None


@WEIGHT_BINARIZERS.register("identity")
class IdentityWeight(WeightBinarizer):
    """Real weights: the 32-bit baseline, or step 1 of ReActNet's two-step recipe."""

    binary = False

    def forward(self, w: Tensor) -> Tensor:
        return w


@WEIGHT_BINARIZERS.register("sign")
class SignWeight(WeightBinarizer):
    """sign(W) with the clipped STE, no scale (BNN, Hubara et al. 2016)."""

    def forward(self, w: Tensor) -> Tensor:
        return _ScaledSign.apply(w, False)

    @torch.no_grad()
    def export_code(self, w: Tensor) -> WeightCode:
        """Bits W >= 0, scale 1."""
        from bnnbench.export.codes import WeightCode

        return WeightCode(w.detach().float(), torch.ones(w.shape[0]))


@WEIGHT_BINARIZERS.register("meanabs")
class MeanAbsWeight(WeightBinarizer):
    """alpha_w sign(W), alpha_w = mean|W| per output channel, detached (XNOR/ReActNet/BiDense)."""

    def scale(self, w: Tensor) -> Tensor:
        return mean_abs(w.detach())

    def forward(self, w: Tensor) -> Tensor:
        return _ScaledSign.apply(w, True)

    @torch.no_grad()
    def export_code(self, w: Tensor) -> WeightCode:
        """Bits W >= 0, scale mean|W| per output channel."""
        from bnnbench.export.codes import WeightCode

        w = w.detach().float()
        return WeightCode(w, mean_abs(w).reshape(-1))


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
        beta = w.mean(dim=_FAN_IN, keepdim=True)
        alpha = (w - beta).pow(2).mean(dim=_FAN_IN, keepdim=True).sqrt().clamp_min(1e-8)
        return alpha, beta

    def scale(self, w: Tensor) -> Tensor:
        return self.stats(w.detach())[0]

    def forward(self, w: Tensor) -> Tensor:
        alpha, beta = self.stats(w)
        return alpha * ede((w - beta) / alpha, self.t, self.k) + beta

    @torch.no_grad()
    def export_code(self, w: Tensor) -> WeightCode:
        """Bits (W - beta_w) / alpha_w >= 0, scale alpha_w, offset beta_w."""
        from bnnbench.export.codes import WeightCode

        alpha, beta = self.stats(w.detach().float())
        return WeightCode((w.detach().float() - beta) / alpha, alpha.reshape(-1), beta.reshape(-1))


def build_weight(name: str) -> WeightBinarizer:
    """Build the weight binarizer registered as `name`."""
    return WEIGHT_BINARIZERS.build(name)


__all__ = ["WEIGHT_BINARIZERS", "WeightBinarizer", "build_weight"]
