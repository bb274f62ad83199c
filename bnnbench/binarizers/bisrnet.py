"""`bisrnet` (Cai et al. 2024): redistribution x*k_c + b_c, then sign with SBA; weights meanabs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from bnnbench.binarizers.base import ActivationBinarizer, channel_param
from bnnbench.binarizers.registry import BINARIZERS
from bnnbench.binarizers.ste import sba
from bnnbench.core.codes import ActivationCode, static_code
from bnnbench.core.elementwise import per_sample


@BINARIZERS.register("bisrnet")
class BiSRNet(ActivationBinarizer):
    """Learnable per-channel redistribution (`k` init 1, `b` init 0) and an SBA sign.

    SBA's sharpness `beta` is one learnable scalar per binarizer, init 1.
    """

    weight = "meanabs"
    weight_init = "conv_default"  # BiSRNet (BiSCI) code keeps nn.Conv2d's init

    def __init__(self, channels: int) -> None:
        super().__init__(channels)
        self.k = channel_param(channels, 1.0)
        self.b = channel_param(channels, 0.0)
        self.beta = nn.Parameter(torch.ones(()))

    def forward(self, x: Tensor) -> Tensor:
        return sba(x * self.k + self.b, self.beta)

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """Two per element: the redistribution x * k + b."""
        return 2 * per_sample(in_shape)

    @torch.no_grad()
    def export_code(self) -> ActivationCode:
        """Bits of x * k + b >= 0 (training's expression; k < 0 flips the channel), levels +-1."""
        k, b = (p.detach().float().cpu() for p in (self.k, self.b))
        return static_code(lambda t: t * k + b >= 0, self.channels)
