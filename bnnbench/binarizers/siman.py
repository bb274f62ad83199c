"""`siman` (Lin et al. 2022, SiMaN): sign-to-magnitude weights (the larger half of |W| codes +1)
and a standardised activation sign."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from bnnbench.binarizers.base import ActivationBinarizer
from bnnbench.binarizers.registry import BINARIZERS
from bnnbench.binarizers.standardized import EPS, standardized_sign
from bnnbench.binarizers.weights import (
    WEIGHT_BINARIZERS,
    LearnedScaleWeight,
    channel_stats,
    standardize_grad,
)
from bnnbench.elementwise import per_sample

_FAN_IN = (1, 2, 3)


class _SiMaNWeight(torch.autograd.Function):
    """alpha (2B - 1) with the gradient of alpha |W_std|, as one Function.

    Saves W, the 1-byte code B and two numbers per output channel (autograd through
    |standardize(W)| keeps the centred, standardised and absolute weights). Backward:
    dL/dalpha = sum(g (2B - 1)) per output channel, dL/dW = standardize_grad(g alpha sign(W_std)).
    """

    @staticmethod
    def forward(ctx, w: Tensor, alpha: Tensor, code: Tensor, reselect: bool) -> Tensor:
        mean, sigma = channel_stats(w, EPS)
        if reselect:  # training: B = the n//2 largest |W_std| per output channel, kept in the buffer
            flat = ((w - mean) / sigma).abs().flatten(1)
            top = flat.topk(flat.shape[1] // 2, dim=1).indices
            code.copy_(torch.zeros_like(flat, dtype=torch.bool).scatter_(1, top, True).view_as(w))
        code = code.clone()  # the next forward re-selects the buffer in place
        ctx.save_for_backward(w, alpha, code, mean, sigma)
        return torch.where(code, alpha, -alpha)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor, None, None]:
        w, alpha, code, mean, sigma = ctx.saved_tensors
        u = (w - mean) / sigma
        g_alpha = torch.where(code, grad, -grad).sum(dim=_FAN_IN, keepdim=True)
        return standardize_grad(grad * alpha * torch.sign(u), u, sigma), g_alpha, None, None


@WEIGHT_BINARIZERS.register("siman")
class SiMaNWeight(LearnedScaleWeight):
    """alpha_o (2B - 1), B = 1 on the n//2 largest |W_std| of each output channel, 0 elsewhere;
    W_std = (W - mean) / sqrt(var + 1e-5) per output channel. Gradient: that of |W_std|
    (bw = |W_std| - |W_std|.detach() + 2B - 1), through the standardisation.

    As lmbxmu/SiMaN@d06a22d (cifar/modules/binarized_modules.py): B is re-selected on every
    training forward and kept (a buffer) for evaluation; alpha init mean|W|. Deviation: the code
    also re-centres the latent weights in place each forward (and clips them at a percentile
    that defaults to 0, a no-op); we centre inside the forward only.
    """

    def bind(self, weight: Tensor) -> None:
        super().bind(weight)
        self.register_buffer("code", weight.detach() >= 0)

    def sign_source(self, w: Tensor) -> Tensor:
        return torch.where(self.code, 1.0, -1.0).to(w.dtype)

    def forward(self, w: Tensor) -> Tensor:
        return _SiMaNWeight.apply(w, self.alpha, self.code, self.training)


@BINARIZERS.register("siman")
class SiMaN(ActivationBinarizer):
    """SiMaN activations: sign(x - mean) with x standardised per sample over (C, H, W); gradient
    (2 - 2|v|)_+ through the statistics; weights `siman`."""

    weight = "siman"

    def forward(self, x: Tensor) -> Tensor:
        return standardized_sign(x, center=True)

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """The mean over (C, H, W) and x - mean: two per element (dividing by the std before
        the sign cannot change the bit)."""
        return 2 * per_sample(in_shape)
