"""`fp`: no binarization; the 32-bit baseline runs through the same blocks and models."""

from __future__ import annotations

from torch import Tensor

from bnnbench.binarizers.base import ActivationBinarizer
from bnnbench.binarizers.registry import BINARIZERS


@BINARIZERS.register("fp")
class FullPrecision(ActivationBinarizer):
    """Identity activation with real weights."""

    weight = "identity"
    binary = False

    def forward(self, x: Tensor) -> Tensor:
        return x
