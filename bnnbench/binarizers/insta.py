"""`insta` (Lee et al. 2023, INSTA-BNN): an instance-aware threshold from the third moment."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from bnnbench.binarizers.base import ActivationBinarizer, channel_param
from bnnbench.binarizers.registry import BINARIZERS
from bnnbench.binarizers.ste import approx_sign
from bnnbench.core.elementwise import per_sample

_HW = (2, 3)


def cube_root(v: Tensor) -> Tensor:
    """The real cube root, sign kept."""
    return v.sign() * v.abs().pow(1.0 / 3.0)


@BINARIZERS.register("insta")
class INSTA(ActivationBinarizer):
    """INSTA-Th: sign(x - (k_c * cbrt(E_hw[x^3]) + b_c)), ApproxSign backward; weights `meanabs`
    (no public code: built from the paper's Sec. 3 description of INSTA-Th).

    E_hw[x^3] is the per-sample, per-channel third moment (it mixes mean, variance and skewness,
    INSTA-BNN Sec. 3), detached like DAB's statistics; k, b are per channel (1, C, 1, 1).
    The authors' code is not public and the INSTA-Th+ squeeze-excitation variant and
    INSTA-PReLU are not built: we follow the paper's description of INSTA-Th on a ReActNet
    base, k init 0 and b init 0 (so training starts from ReActNet's RSign), ReActNet's weights
    and init.
    """

    weight = "meanabs"
    weight_init = "uniform_1e3"

    def __init__(self, channels: int) -> None:
        super().__init__(channels)
        self.k = channel_param(channels, 0.0)
        self.b = channel_param(channels, 0.0)

    def threshold(self, x: Tensor) -> Tensor:
        """k_c cbrt(E_hw[x^3]) + b_c, per sample and channel."""
        return self.k * cube_root(x.detach().pow(3).mean(_HW, keepdim=True)) + self.b

    def forward(self, x: Tensor) -> Tensor:
        return approx_sign(x - self.threshold(x))

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """x^3 (two multiplies), its mean over (H, W) and x - threshold: four per element; the
        cube root, k * . + b per channel: three per channel."""
        return 4 * per_sample(in_shape) + 3 * in_shape[1]
