"""What a trained binary conv computes, written in terms of packed bits.

Activation side, per input channel c: A = level * scale_c * F_c * s + offset inside the image
(zero in the padding, as the float conv pads the binarized tensor with 0), where s = ±1 is the
packed bit ``x - shift_c >= t_c``, F_c = -1 for channels whose sign runs opposite to the bit
(`thresholds.exact_thresholds`), `level` and `offset` are scalars (offset is AdaBin's centre)
and scale_c is 1, a static per-channel scale (DAB scale="learnable") or a per-sample one
computed at run time (DAB "adaptive" / "mad", by `DABStats`, which also gives DAB's per-sample
thresholds). Weight side, per output channel o: W = w_scale_o * sign(source) + w_offset_o
(w_offset only for AdaBin weights).

Each binarizer writes its own code (`ActivationBinarizer.export_code`,
`WeightBinarizer.export_code`) with the helpers here; None there means "no export rule".
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace

from torch import Tensor, nn

from bnnbench.core.thresholds import exact_thresholds


class UnsupportedExport(ValueError):
    """A binary module the export path cannot turn into packed layers (the message names it)."""


class DABStats(nn.Module):
    """DAB's run-time statistics as (N, C) tensors: per-sample thresholds and scales.

    Computed by the trained binarizer's own `statistics` (the code its forward runs), so the
    packed bits ``x >= threshold`` equal training's sign(x - threshold) exactly: for finite
    floats x - t >= 0 iff x >= t.
    """

    def __init__(self, dab: nn.Module) -> None:
        super().__init__()
        self.dab = copy.deepcopy(dab).requires_grad_(False)  # the trained binarizer stays as it is

    @property
    def threshold_mode(self) -> str:
        """DAB's `threshold` switch."""
        return self.dab.threshold

    @property
    def scale_mode(self) -> str:
        """DAB's `scale` switch."""
        return self.dab.scale

    @property
    def runtime_threshold(self) -> bool:
        """True when the threshold depends on the sample (k * mean(x) [+ b])."""
        return self.threshold_mode in ("adaptive", "mean_only")

    @property
    def runtime_scale(self) -> bool:
        """True when the scale depends on the sample (exp(a (MAD - 1)) or MAD)."""
        return self.scale_mode in ("adaptive", "mad")

    def forward(self, x: Tensor) -> tuple[Tensor | None, Tensor | None]:
        """(threshold (N, C) or None when static, scale (N, C) or None when static)."""
        n, c = x.shape[:2]
        thr, alpha = self.dab.statistics(x)
        return (
            thr.reshape(n, c) if self.runtime_threshold else None,
            alpha.reshape(n, c) if self.runtime_scale else None,
        )


@dataclass
class ActivationCode:
    """An activation binarizer as packing thresholds, channel flips, levels and scales."""

    threshold: Tensor  # (C,) static bit threshold (ignored where `stats` gives a run-time one)
    flip: Tensor  # (C,) bool: the channel's sign is -bit
    level: float  # coefficient of the sign
    offset: float  # added inside the image (AdaBin's centre)
    channel_scale: Tensor | None = None  # (C,) static per-input-channel scale, or None
    stats: DABStats | None = None  # run-time thresholds / scales, or None
    shift: Tensor | None = None  # (C,) subtracted from x before `stats` see it, or None

    def shifted(self, alpha: Tensor) -> ActivationCode:
        """The code of x -> B(x - alpha), alpha (1, C, 1, 1) as training subtracts it (BD-Net Eq. 11)."""
        alpha = alpha.detach().float().cpu()
        if self.stats is not None:  # run-time statistics read x - alpha: subtract it at run time
            if self.shift is not None:  # x - a1 - a2 is not x - (a1 + a2) in floats
                raise UnsupportedExport("a binarizer shifted twice (no exact single shift)")
            return replace(self, shift=alpha.reshape(-1))
        inner_t, inner_flip = self.threshold.reshape(alpha.shape), self.flip.reshape(alpha.shape)
        threshold, flip = exact_thresholds(
            lambda t: (((t.reshape(alpha.shape) - alpha) >= inner_t) ^ inner_flip).reshape(-1), alpha.numel()
        )
        return replace(self, threshold=threshold, flip=flip)


def static_code(
    sign_of: Callable[[Tensor], Tensor], channels: int, level: float = 1.0, offset: float = 0.0
) -> ActivationCode:
    """Code of a binarizer whose sign is a fixed monotone function of x per channel.

    `sign_of` maps candidates shaped like a (1, C, 1, 1) activation (so broadcasting matches
    training) to a bool tensor of the same shape, True where training's sign is +1; write it
    with training's own expression so that the thresholds are exact.
    """
    threshold, flip = exact_thresholds(lambda t: sign_of(t.reshape(1, channels, 1, 1)).reshape(-1), channels)
    return ActivationCode(threshold, flip, level, offset)


@dataclass
class WeightCode:
    """A weight binarizer as sign source, per-output-channel scale and offset."""

    source: Tensor  # the packed bit is source >= 0
    scale: Tensor  # (C_out,)
    offset: Tensor | None = None  # (C_out,) or None


__all__ = ["ActivationCode", "DABStats", "UnsupportedExport", "WeightCode", "static_code"]
