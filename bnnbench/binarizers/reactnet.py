"""`reactnet` (Liu et al. 2020): RSign = sign(x - beta_c) with ApproxSign; weights meanabs."""

from __future__ import annotations

from torch import Tensor

from bnnbench.binarizers.base import ActivationBinarizer, channel_param
from bnnbench.binarizers.registry import BINARIZERS
from bnnbench.binarizers.ste import approx_sign


@BINARIZERS.register("reactnet")
class RSign(ActivationBinarizer):
    """ReActNet Eq. 1: sign(x - beta) with a learnable per-channel threshold `beta` (init 0)."""

    weight = "meanabs"

    def __init__(self, channels: int) -> None:
        super().__init__(channels)
        self.beta = channel_param(channels, 0.0)

    def forward(self, x: Tensor) -> Tensor:
        return approx_sign(x - self.beta)
