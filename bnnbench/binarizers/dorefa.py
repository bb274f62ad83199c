"""`dorefa` (Zhou et al. 2016, DoReFa-Net) at 1 bit: activations {0, 1}, weights E|W| sign(W)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from bnnbench.binarizers.base import ActivationBinarizer
from bnnbench.binarizers.registry import BINARIZERS
from bnnbench.binarizers.weights import WEIGHT_BINARIZERS, WeightBinarizer
from bnnbench.core.codes import ActivationCode, WeightCode, static_code
from bnnbench.core.elementwise import per_sample


class _Round01(torch.autograd.Function):
    """round(clip(x, 0, 1)) in {0, 1} (1 from x >= 0.5), gradient 1_{0 <= x <= 1} (clip, then STE)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward((x >= 0) & (x <= 1))
        return (x >= 0.5).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (inside,) = ctx.saved_tensors
        return grad * inside


class _LayerMeanSign(torch.autograd.Function):
    """E sign(W), E = mean|W| over the whole layer (detached), identity gradient."""

    @staticmethod
    def forward(ctx, w: Tensor) -> Tensor:
        e = w.abs().mean()
        return torch.where(w >= 0, e, -e)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad


@WEIGHT_BINARIZERS.register("dorefa")
class DoReFaWeight(WeightBinarizer):
    """DoReFa 1-bit weights: E(|W|) sign(W/E) with one scalar E per layer, detached, and the
    straight-through gradient dL/dW = dL/dW_b (no clipping): tensorpack's `fw`
    (tensorpack/tensorpack@0a56325, examples/DoReFa-Net/dorefa.py). Deviation: its tf.sign maps
    0 to 0; we map it to +1."""

    def scale(self, w: Tensor) -> Tensor:
        return w.detach().abs().mean().expand(w.shape[0], 1, 1, 1)

    def forward(self, w: Tensor) -> Tensor:
        return _LayerMeanSign.apply(w)

    @torch.no_grad()
    def export_code(self, w: Tensor) -> WeightCode:
        """Bits W >= 0, scale E = mean|W| of the layer for every output channel."""
        w = w.detach().float()
        return WeightCode(w, w.abs().mean().expand(w.shape[0]).clone())


@BINARIZERS.register("dorefa")
class DoReFa(ActivationBinarizer):
    """DoReFa 1-bit activations: round(clip(x, 0, 1)) in {0, 1} (DoReFa's quantize_k with k = 1 after
    the clip of the examples' `activate`, tensorpack@0a56325), gradient 1 on [0, 1]; weights `dorefa`.

    The two levels are 0 and 1, not symmetric. Deviation: tf.round rounds 0.5 to 0 (to even);
    we map x = 0.5 to 1, as sign maps 0 to +1 everywhere in bnnbench.
    """

    weight = "dorefa"
    symmetric_levels = False

    def forward(self, x: Tensor) -> Tensor:
        return _Round01.apply(x)

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """One per element: the comparison with 1/2 (round(clip(x, 0, 1)) is the bit x >= 1/2)."""
        return per_sample(in_shape)

    @torch.no_grad()
    def export_code(self) -> ActivationCode:
        """{0, 1} = 1/2 + 1/2 s with the bit s = (x >= 1/2): level 1/2, offset 1/2."""
        return static_code(lambda t: t >= 0.5, self.channels, level=0.5, offset=0.5)
