"""`reactnet` (Liu et al. 2020): RSign = sign(x - beta_c) with ApproxSign; weights meanabs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from bnnbench.binarizers.base import ActivationBinarizer, channel_param
from bnnbench.binarizers.registry import BINARIZERS
from bnnbench.binarizers.ste import approx_sign
from bnnbench.core.codes import ActivationCode, static_code
from bnnbench.core.elementwise import per_sample


@BINARIZERS.register("reactnet")
class RSign(ActivationBinarizer):
    """ReActNet Eq. 1: sign(x - beta) with a learnable per-channel threshold `beta` (init 0)."""

    weight = "meanabs"
    weight_init = "uniform_1e3"  # liuzechun/ReActNet: torch.rand(...) * 0.001

    def __init__(self, channels: int) -> None:
        super().__init__(channels)
        self.beta = channel_param(channels, 0.0)

    def forward(self, x: Tensor) -> Tensor:
        return approx_sign(x - self.beta)

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """One subtraction per element (x - beta)."""
        return per_sample(in_shape)

    @torch.no_grad()
    def export_code(self) -> ActivationCode:
        """Bits x - beta >= 0 (training's expression), levels +-1."""
        beta = self.beta.detach().float().cpu()
        return static_code(lambda t: t - beta >= 0, self.channels)
