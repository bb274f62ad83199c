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
from bnnbench.core.elementwise import per_sample

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


# lmbxmu/SiMaN@68664c0 cifar/main.py: every epoch, percent = 15 (1 - e/E) on the binary convs
# (5 (1 - e/E) at 0f608a6, through its --percent default; 0 at d06a22d)
CLIP_PERCENT = 15.0


@WEIGHT_BINARIZERS.register("siman")
class SiMaNWeight(LearnedScaleWeight):
    """alpha_o (2B - 1), B = 1 on the n//2 largest |W_std| of each output channel, 0 elsewhere;
    W_std = (W - mean) / sqrt(var + 1e-5) per output channel. Gradient: that of |W_std|
    (bw = |W_std| - |W_std|.detach() + 2B - 1), through the standardisation.

    As lmbxmu/SiMaN (cifar/modules/binarized_modules.py at d06a22d, cifar/main.py at 68664c0):
    B is re-selected on every training forward and kept (a buffer) for evaluation; alpha init
    mean|W|. Before that, each training forward rewrites the latent weights in place: centred
    per output channel, W_c = W - mean_o, and their magnitudes clipped to the layer's
    [p, 100 - p] percentiles of |W_c| (numpy's linear interpolation over all of the layer's
    weights): W <- clamp(|W_c|, q_p, q_(100-p)) sign(W_c), with p = `clip_percent` (1 - e/E) set
    each epoch (`clip_percent`: 15 the released code, 5 an earlier commit, 0 centring only).
    The code also does this on evaluation forwards, where after a training step at the same p
    it changes nothing; here evaluation leaves the weights as they are, and a conv called twice
    in one forward clips once.
    """

    def __init__(self, clip_percent: float = CLIP_PERCENT) -> None:
        super().__init__()
        if not 0.0 <= float(clip_percent) < 50.0:
            raise ValueError(f"siman clip_percent must lie in [0, 50), got {clip_percent}")
        self.clip_percent = float(clip_percent)
        self.percent = self.clip_percent  # epoch 0
        self._clipped: tuple[int, int] | None = None  # (weight, version) last clipped

    def extra_repr(self) -> str:
        return f"clip_percent={self.clip_percent:g}, percent={self.percent:.3g}"

    def set_epoch(self, epoch: int, max_epochs: int) -> None:
        """p = clip_percent (1 - epoch / max_epochs), as the authors' trainer sets it per epoch."""
        self.percent = self.clip_percent * (1.0 - epoch / max(max_epochs, 1))

    @torch.no_grad()
    def clip_(self, w: Tensor) -> None:
        """Centre `w` per output channel and clip its magnitudes to the [p, 100 - p] percentiles, in place."""
        centred = w - w.mean(dim=_FAN_IN, keepdim=True)
        magnitude = centred.abs()
        if self.percent > 0:
            qs = torch.tensor([self.percent / 100.0, 1.0 - self.percent / 100.0], dtype=torch.float64)
            low, high = torch.quantile(magnitude.flatten().double(), qs).to(w.dtype)
            magnitude = magnitude.clamp(min=low, max=high)
        w.copy_(magnitude * torch.sign(centred))

    def bind(self, weight: Tensor) -> None:
        super().bind(weight)
        self.register_buffer("code", weight.detach() >= 0)

    def sign_source(self, w: Tensor) -> Tensor:
        return torch.where(self.code, 1.0, -1.0).to(w.dtype)

    def forward(self, w: Tensor) -> Tensor:
        # once per change of the weights (an optimizer step): a conv called twice in one forward
        # must not rewrite weights the first call's graph saved (the code's second call would
        # change nothing but rounding)
        if self.training and self._clipped != (id(w), w._version):
            self.clip_(w)
            self._clipped = (id(w), w._version)
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
