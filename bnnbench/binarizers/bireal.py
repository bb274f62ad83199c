"""`bireal` (Liu et al. 2018, Bi-Real Net): sign(x) with the ApproxSign gradient; weights meanabs."""

from __future__ import annotations

import torch
from torch import Tensor

from bnnbench.binarizers.base import ActivationBinarizer
from bnnbench.binarizers.registry import BINARIZERS
from bnnbench.binarizers.ste import approx_sign
from bnnbench.core.codes import ActivationCode, static_code


@BINARIZERS.register("bireal")
class BiReal(ActivationBinarizer):
    """sign(x), gradient ApproxSign 2 - 2|x| inside |x| < 1 (Bi-Real Eq. 5); weights `meanabs`.

    As liuzechun/Bi-Real-net@27cf653 (pytorch_implementation/BiReal18_34/birealnet.py): the
    magnitude-aware weight scale mean|W| is detached and the weight gradient is the clipped STE
    unscaled (the paper's magnitude-aware gradient differentiates through the scale), latent weights init
    uniform [0, 1e-3). The Bi-Real shortcut around every binary conv is the `bireal` block.
    """

    weight = "meanabs"
    weight_init = "uniform_1e3"

    def forward(self, x: Tensor) -> Tensor:
        return approx_sign(x)

    @torch.no_grad()
    def export_code(self) -> ActivationCode:
        """Bits x >= 0, levels +-1 (the surrogate only changes the backward)."""
        return static_code(lambda t: t >= 0, self.channels)
