"""`toy_sign`: sign(x) with the clipped straight-through estimator; weights mean|W| sign(W)."""

from __future__ import annotations

import torch
from torch import Tensor

from bnnbench.binarizers.base import ActivationBinarizer
from bnnbench.binarizers.registry import BINARIZERS
from bnnbench.binarizers.ste import clip_ste
from bnnbench.core.codes import ActivationCode, static_code


@BINARIZERS.register("toy_sign")
class ToySign(ActivationBinarizer):
    """sign(x), gradient 1_{|x| <= 1}."""

    weight = "meanabs"

    def forward(self, x: Tensor) -> Tensor:
        return clip_ste(x)

    @torch.no_grad()
    def export_code(self) -> ActivationCode:
        """Bits x >= 0, levels +-1."""
        return static_code(lambda t: t >= 0, self.channels)
