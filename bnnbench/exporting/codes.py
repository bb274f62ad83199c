"""What a trained binary conv computes, written in terms of packed bits.

Activation side, per input channel c: A = level * scale_c * F_c * s + offset inside the image
(zero in the padding, as the float conv pads the binarized tensor with 0), where s = ±1 is the
packed bit ``x >= t_c``, F_c = -1 for channels whose sign runs opposite to the bit
(`thresholds.exact_thresholds`), `level` and `offset` are scalars (offset is AdaBin's centre)
and scale_c is 1, a static per-channel scale (DAB scale="learnable") or a per-sample one
computed at run time (DAB "adaptive" / "mad", by `DABStats`, which also computes DAB's
per-sample thresholds). Weight side, per output channel o: W = w_scale_o * sign(source) +
w_offset_o (w_offset only for AdaBin weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from bnnbench.binarizers.adabin import AdaBin
from bnnbench.binarizers.bisrnet import BiSRNet
from bnnbench.binarizers.bnn import BNN
from bnnbench.binarizers.dab import DAB
from bnnbench.binarizers.reactnet import RSign
from bnnbench.binarizers.weights import AdaBinWeight, MeanAbsWeight, SignWeight
from bnnbench.exporting.thresholds import exact_thresholds

_HW = (2, 3)
_FAN_IN = (1, 2, 3)


class UnsupportedExport(ValueError):
    """A binary module the export path cannot turn into packed layers (the message names it)."""


class DABStats(nn.Module):
    """DAB's run-time statistics: per-sample thresholds (N, C) and scales (N, C) from the float input.

    The expressions repeat `bnnbench.binarizers.dab` op for op (the fused adaptive/adaptive
    path and the ablation path differ in how they average |x_s|), so the packed bits
    ``x >= threshold`` equal training's sign(x - threshold) exactly: for finite floats
    x - t >= 0 iff x >= t.
    """

    def __init__(self, dab: DAB) -> None:
        super().__init__()
        self.threshold_mode, self.scale_mode = dab.threshold, dab.scale
        for name in ("k", "b", "a"):
            p = getattr(dab, name, None)
            self.register_buffer(name, None if p is None else p.detach().clone())

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
        if self.threshold_mode == "adaptive" and self.scale_mode == "adaptive":
            mu = x.mean(_HW, keepdim=True)
            thr = self.k * mu + self.b
            xs = x - thr
            mad = torch.linalg.vector_norm(xs, ord=1, dim=_HW, keepdim=True) / (xs.shape[2] * xs.shape[3])
            return thr.reshape(n, c), torch.exp(self.a * (mad - 1)).reshape(n, c)
        mu = x.mean(_HW, keepdim=True)
        if self.threshold_mode == "adaptive":
            shift = self.k * mu + self.b
        elif self.threshold_mode == "mean_only":
            shift = self.k * mu
        elif self.threshold_mode == "learnable":
            shift = self.b
        else:
            shift = torch.zeros((), dtype=x.dtype, device=x.device)
        thr = shift.reshape(n, c) if self.runtime_threshold else None
        if not self.runtime_scale:
            return thr, None
        mad = (x - shift).abs().mean(_HW, keepdim=True)
        alpha = mad if self.scale_mode == "mad" else torch.exp(self.a * (mad - 1))
        return thr, alpha.reshape(n, c)


@dataclass
class ActivationCode:
    """An activation binarizer as packing thresholds, channel flips, levels and scales."""

    threshold: Tensor  # (C,) static bit threshold (ignored where `stats` gives a run-time one)
    flip: Tensor  # (C,) bool: the channel's sign is -bit
    level: float  # coefficient of the sign
    offset: float  # added inside the image (AdaBin's centre)
    channel_scale: Tensor | None  # (C,) static per-input-channel scale, or None
    stats: DABStats | None  # run-time thresholds / scales, or None


def _static(sign_of, channels: int, level: float = 1.0, offset: float = 0.0) -> ActivationCode:
    """Code of a binarizer whose sign is a fixed monotone function of x per channel."""
    threshold, flip = exact_thresholds(sign_of, channels)
    return ActivationCode(threshold, flip, level, offset, None, None)


def _as_input(t: Tensor, channels: int) -> Tensor:
    """(C,) candidates shaped like a (1, C, 1, 1) activation, so broadcasting matches training."""
    return t.reshape(1, channels, 1, 1)


@torch.no_grad()
def activation_code(binarizer: nn.Module, channels: int) -> ActivationCode | None:
    """The code of a known activation binarizer, or None for an unknown one."""
    kind = type(binarizer)
    if kind is BNN:
        return _static(lambda t: (_as_input(t, channels) >= 0).reshape(-1), channels)
    if kind is RSign:
        beta = binarizer.beta.detach().float().cpu()
        return _static(lambda t: ((_as_input(t, channels) - beta) >= 0).reshape(-1), channels)
    if kind is BiSRNet:
        k, b = (p.detach().float().cpu() for p in (binarizer.k, binarizer.b))
        return _static(lambda t: ((_as_input(t, channels) * k + b) >= 0).reshape(-1), channels)
    if kind is AdaBin:
        alpha, beta = (p.detach().float().cpu() for p in (binarizer.alpha, binarizer.beta))

        def value(s: float) -> float:
            # the two output levels, with training's own expression for each sign
            s_t = torch.tensor(s)
            v = alpha * (s_t + beta) if binarizer.center == "code" else alpha * s_t + beta
            return float(v)

        hi, lo = value(1.0), value(-1.0)
        sign_of = lambda t: (((_as_input(t, channels) - beta) / alpha) >= 0).reshape(-1)  # noqa: E731
        return _static(sign_of, channels, (hi - lo) / 2, (hi + lo) / 2)
    if kind is DAB:
        stats = DABStats(binarizer).cpu()
        if binarizer.threshold == "learnable":
            b = binarizer.b.detach().float().cpu()
            code = _static(lambda t: ((_as_input(t, channels) - b) >= 0).reshape(-1), channels)
        else:  # none, or a run-time threshold (the static one is then unused)
            code = _static(lambda t: (_as_input(t, channels) >= 0).reshape(-1), channels)
        if binarizer.scale == "learnable":
            code.channel_scale = binarizer.alpha.detach().float().cpu().reshape(-1)
        if stats.runtime_threshold or stats.runtime_scale:
            code.stats = stats
        return code
    return None


@dataclass
class WeightCode:
    """A weight binarizer as sign source, per-output-channel scale and offset."""

    source: Tensor  # the packed bit is source >= 0
    scale: Tensor  # (C_out,)
    offset: Tensor | None  # (C_out,) or None


@torch.no_grad()
def weight_code(binarizer: nn.Module, weight: Tensor) -> WeightCode | None:
    """The code of a known 1-bit weight binarizer, or None for an unknown one."""
    w = weight.detach().float()
    cout = w.shape[0]
    if type(binarizer) is SignWeight:
        return WeightCode(w, torch.ones(cout), None)
    if type(binarizer) is MeanAbsWeight:
        # the expression of _ScaledSign.forward, not MeanAbsWeight.scale: same value, same rounding
        scale = torch.linalg.vector_norm(w, ord=1, dim=_FAN_IN, keepdim=True) / w[0].numel()
        return WeightCode(w, scale.reshape(-1), None)
    if type(binarizer) is AdaBinWeight:
        alpha, beta = binarizer.stats(w)
        return WeightCode((w - beta) / alpha, alpha.reshape(-1), beta.reshape(-1))
    return None


__all__ = ["ActivationCode", "DABStats", "UnsupportedExport", "WeightCode", "activation_code", "weight_code"]
