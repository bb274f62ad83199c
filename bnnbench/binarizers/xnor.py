"""`xnor` (Rastegari et al. 2016, XNOR-Net): sign(x) with the clipped STE; weights alpha sign(W)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from bnnbench.binarizers.base import ActivationBinarizer
from bnnbench.binarizers.registry import BINARIZERS
from bnnbench.binarizers.ste import clip_ste
from bnnbench.binarizers.weights import WEIGHT_BINARIZERS, MeanAbsWeight
from bnnbench.core.codes import ActivationCode, static_code
from bnnbench.core.elementwise import per_sample


@WEIGHT_BINARIZERS.register("xnor")
class XNORWeight(MeanAbsWeight):
    """alpha sign(W), alpha = mean|W| per output channel; gradient g (alpha 1_{|W| <= 1} + 1/n).

    XNOR-Net Sec. 3.1-3.2 and the authors' `updateBinaryGradWeight`
    (allenai/XNOR-Net@8a96d94, util.lua): the weight gradient is multiplied elementwise by
    alpha inside |W| < 1 plus 1/n, n = C_in/g k k. Their code then multiplies it by
    n (1 - 1/C_in), a per-layer learning-rate factor the paper does not explain (omitted), and
    mean-centres and clamps the latent weights after each step (an optimizer hook, omitted).
    """

    grad = "xnor"


@BINARIZERS.register("xnor")
class XNOR(ActivationBinarizer):
    """XNOR-Net activations: sign(x), gradient 1_{|x| <= 1}; weights `xnor`.

    `scale` False (default): the authors' code (allenai/XNOR-Net@8bf097b, BinActiveZ.lua) binarizes
    activations without a scale. True: sign(x) * A, A = mean_c |x| per pixel (detached), the
    activation scale of XNOR-Net Eq. 11 applied before the conv; the paper averages A over
    each k x k window after the conv (K = A * k), which equals this for 1x1 convs only.
    """

    weight = "xnor"

    def __init__(self, channels: int, scale: bool = False) -> None:
        super().__init__(channels)
        self.scale = bool(scale)
        if self.scale:
            self.levels_per_channel = 0  # A varies per pixel  # type: ignore[misc]

    def extra_repr(self) -> str:
        return f"channels={self.channels}, scale={self.scale}"

    def forward(self, x: Tensor) -> Tensor:
        out = clip_ste(x)
        if self.scale:
            out = out * x.detach().abs().mean(1, keepdim=True)
        return out

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """With `scale`: the channel mean of |x| and the product with it, two per element."""
        return 2 * per_sample(in_shape) if self.scale else 0

    @torch.no_grad()
    def export_code(self) -> ActivationCode | None:
        """Bits x >= 0, levels +-1; None with `scale` (a per-pixel scale has no packed form here)."""
        return None if self.scale else static_code(lambda t: t >= 0, self.channels)


__all__ = ["XNOR", "XNORWeight"]
