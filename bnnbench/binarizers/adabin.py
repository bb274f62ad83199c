"""`adabin` (Tu et al. 2022): a layer-wise learnable centre and spread; weights `adabin`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from bnnbench.binarizers.base import ActivationBinarizer
from bnnbench.binarizers.registry import BINARIZERS
from bnnbench.binarizers.ste import approx_sign
from bnnbench.elementwise import per_sample

if TYPE_CHECKING:
    from bnnbench.export.codes import ActivationCode

CENTERS = ("code", "paper")


@BINARIZERS.register("adabin")
class AdaBin(ActivationBinarizer):
    """AdaBin activations with scalars `alpha` (init 1) and `beta` (init 0), ApproxSign backward.

    center="code" (default, the official code): alpha * (sign((x - beta)/alpha) + beta), whose
    two levels are centred on alpha*beta; center="paper" (AdaBin Eq. 6): the set
    {beta - alpha, beta + alpha}, i.e. alpha * sign((x - beta)/alpha) + beta.
    """

    weight = "adabin"
    weight_init = "fan_out_normal"  # official code: normal(0, sqrt(2 / (k*k*C_out)))
    symmetric_levels = False  # two levels centred on alpha*beta (or beta), not on 0

    def __init__(self, channels: int, center: str = "code") -> None:
        super().__init__(channels)
        if center not in CENTERS:
            raise ValueError(f"adabin center must be one of {CENTERS}, got {center!r}")
        self.center = center
        self.alpha = nn.Parameter(torch.ones(()))
        self.beta = nn.Parameter(torch.zeros(()))

    def levels(self, s: Tensor) -> Tensor:
        """The output for signs s = +-1 (the centre option's expression)."""
        if self.center == "code":
            return self.alpha * (s + self.beta)
        return self.alpha * s + self.beta

    def forward(self, x: Tensor) -> Tensor:
        return self.levels(approx_sign((x - self.beta) / self.alpha))

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """Four per element: (x - beta), / alpha (alpha is learned, its sign may flip the bit),
        and the two levels' + beta and * alpha."""
        return 4 * per_sample(in_shape)

    @torch.no_grad()
    def export_code(self) -> ActivationCode:
        """Bits (x - beta) / alpha >= 0; level and offset from the two outputs `levels` gives."""
        from bnnbench.export.codes import static_code

        alpha, beta = (p.detach().float().cpu() for p in (self.alpha, self.beta))
        hi, lo = (float(v) for v in self.levels(torch.tensor([1.0, -1.0], device=self.alpha.device)).cpu())
        return static_code(lambda t: (t - beta) / alpha >= 0, self.channels, (hi - lo) / 2, (hi + lo) / 2)
