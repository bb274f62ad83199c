"""Exported inference layers: a binary conv on packed bits with everything around it folded.

`PackedConv` computes, for input x (N, C_in, H, W) and output channel o,

    y_o = scale_o * conv(S, W')_o * [sample scale] + bias_o + residual
          + offset terms (AdaBin only) ,

S the packed bits of x (x >= threshold; x - shift for a shifted binarizer with run-time statistics), W' the packed weight signs with flipped input
channels folded in; scale and bias hold the activation level, the weight scale, the conv bias
and a folded BN. What runs where:

- Per-channel thresholds (static or DAB's per-sample ones) are applied while packing; the conv
  runs on bits (Triton kernels on GPU, the compiled popcount kernels on CPU, or their torch
  reference where neither runs).
- AdaBin's offsets: conv(A, W) with A = a s + c (0 in the padding) and W = a_w s_w + b_w expands
  into a a_w conv(s, s_w) + a b_w conv(s, 1) + c a_w conv(M, s_w) + c b_w conv(M, 1), M the
  in-image mask. The first two come from packed convs on the same packed input (the second with
  one filter per group); the last two depend only on the position (at the borders, through
  zero padding) and are computed once per input size with F.conv2d on ones and cached.
- Per-input-channel scales (DAB's alpha_{n,c}, or its learnable alpha_c) do not factor out of a
  sum over input channels. Where each output channel reads ONE input channel (C_in / groups ==
  1: depth-wise convs) they become the kernel's per-sample-and-channel scale, exactly, on bits.
  For other convs `channel_scale` picks:
  * "float" (default, exact): the binarized activation alpha * s is formed in float and
    convolved with the unpacked ±1 weights by F.conv2d; the weights stay stored as bits, but
    this conv does NOT run on bits.
  * "bitplanes" (on bits, exact to `planes` bits of alpha): |alpha_{n,c}| is rounded to
    `planes` bits relative to its per-sample maximum m_n, q = sum_j 2^j m_j; since
    m_j s = (s + s_j) / 2 with s_j = s where m_j = 1 and -s elsewhere (an XOR of the packed
    words), the conv is (2^P - 1)/2 conv(s) + sum_j 2^(j-1) conv(s_j), times m_n / (2^P - 1):
    P + 1 packed convs with a per-sample scale, accumulated through the epilogue's residual.
    Error per activation <= m_n / (2 (2^P - 1)).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bnnbench.core.codes import DABStats
from bnnbench.kernels import PackedBinaryConv2d, binarize_pack, packed_conv2d, unpack_weights
from bnnbench.kernels.packing import pack_bits_last

CHANNEL_SCALE_MODES = ("float", "bitplanes")


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


class PackedConv(nn.Module):
    """An exported binary conv: packed 1-bit weights, thresholds and a fused float epilogue."""

    binary = True  # complexity.count reads it: this layer's MACs are BOPs

    def __init__(
        self,
        conv: PackedBinaryConv2d,
        *,
        stats: DABStats | None = None,
        shift: Tensor | None = None,
        channel_scale: Tensor | None = None,
        channel_scale_mode: str = "float",
        planes: int = 16,
        channel_sign: Tensor | None = None,
        ones_packed: Tensor | None = None,
        ones_scale: Tensor | None = None,
        border_sign: Tensor | None = None,
        border_ones: Tensor | None = None,
    ) -> None:
        super().__init__()
        if channel_scale_mode not in CHANNEL_SCALE_MODES:
            raise ValueError(f"channel_scale={channel_scale_mode!r} is not one of {CHANNEL_SCALE_MODES}")
        if not 1 <= planes <= 24:
            raise ValueError(f"planes={planes} must be in 1..24 (float32 has a 24-bit mantissa)")
        self.conv = conv
        self.stats = stats
        self.register_buffer("shift", shift)  # (C_in,) subtracted before packing (BD-Net's branch threshold)
        self.channel_scale_mode, self.planes = channel_scale_mode, planes
        self.register_buffer("channel_scale", channel_scale)  # (C_in,), only where it cannot fold
        # AdaBin offsets: channel signs F_c (-1: flipped), one filter of F per group, per-output coefficients
        self.register_buffer("channel_sign", channel_sign)
        self.register_buffer("ones_packed", ones_packed)
        self.register_buffer("ones_scale", ones_scale)
        self.register_buffer("border_sign", border_sign)
        self.register_buffer("border_ones", border_ones)
        self._border_cache: dict[Any, Tensor] = {}

    # -- shape helpers -------------------------------------------------------------------------
    @property
    def in_channels(self) -> int:
        """Input channels."""
        return self.conv.in_channels

    @property
    def out_channels(self) -> int:
        """Output channels."""
        return self.conv.out_channels

    @property
    def groups(self) -> int:
        """Conv groups."""
        return self.conv.groups

    def macs_per_output(self) -> int:
        """Binary MACs per output element (C_in / groups * kh * kw), for complexity.count."""
        kh, kw = self.conv.kernel_size
        return self.in_channels // self.groups * kh * kw

    def weight_bytes(self) -> int:
        """Bytes of the packed 1-bit weights (word padding included)."""
        return self.conv.weight_bytes()

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """Spatial size of the output for an h x w input."""
        (kh, kw), (sh, sw), (ph, pw) = self.conv.kernel_size, _pair(self.conv.stride), _pair(self.conv.padding)
        return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_border_cache"] = {}  # derived from buffers; rebuilt on demand
        return state

    def _apply(self, fn, recurse: bool = True):  # noqa: ANN001 - nn.Module's signature
        """Moves follow `fn` (.to(device), .cuda()), but float buffers stay fp32: `model.half()`
        must not round the folded scales, thresholds and statistics (the epilogue runs in fp32)."""
        self._border_cache = {}

        def keep_fp32(t: Tensor) -> Tensor:
            if not t.is_floating_point():
                return fn(t)
            return t.to(fn(t.new_empty(0)).device)

        return super()._apply(keep_fp32, recurse)

    # -- the conv ------------------------------------------------------------------------------
    def _conv(self, xp: Tensor, w: Tensor, **epilogue: Any) -> Tensor:
        c = self.conv
        return packed_conv2d(
            xp, w, c.in_channels, c.stride, c.padding, c.groups,
            out_dtype=torch.float32, impl=c.impl, backend=c.backend, **epilogue,
        )

    def _border(self, h: int, w: int, device: torch.device) -> Tensor:
        """c a_w conv(M, s_w) + c b_w conv(M, 1) (BN gain included): (1, C_out, Ho, Wo), cached."""
        key = (h, w, device)
        if key not in self._border_cache:
            c = self.conv
            cin_g = c.in_channels // c.groups
            signs = unpack_weights(c.weight_packed, cin_g)  # flipped signs s_w F
            flipped_mask = self.channel_sign.view(1, -1, 1, 1).expand(1, c.in_channels, h, w)  # M F
            p_sign = F.conv2d(flipped_mask, signs, None, c.stride, c.padding, 1, c.groups)
            ones = torch.ones(1, c.in_channels, h, w, device=device)
            p_ones = F.conv2d(ones, torch.ones_like(signs), None, c.stride, c.padding, 1, c.groups)
            self._border_cache[key] = (
                self.border_sign.view(1, -1, 1, 1) * p_sign + self.border_ones.view(1, -1, 1, 1) * p_ones
            )
        return self._border_cache[key]

    def _offset_terms(self, xp: Tensor, x: Tensor) -> Tensor:
        """AdaBin's a b_w conv(s, 1) + the border terms, as a residual (N, C_out, Ho, Wo)."""
        count = self._conv(xp, self.ones_packed)  # (N, groups, Ho, Wo): conv(s F, 1) per group
        count = count.repeat_interleave(self.out_channels // self.groups, dim=1)
        return self.ones_scale.view(1, -1, 1, 1) * count + self._border(x.shape[2], x.shape[3], x.device)

    def _channel_scaled(self, x: Tensor, xp: Tensor, thr: Tensor, alpha: Tensor, residual: Tensor | None) -> Tensor:
        """conv(alpha_{n,c} s, W') for a conv whose outputs read several input channels."""
        c = self.conv
        if self.channel_scale_mode == "float":
            t = thr.reshape(thr.shape[0] if thr.dim() == 2 else 1, -1, 1, 1)
            a = alpha.reshape(alpha.shape[0], -1, 1, 1)
            act = torch.where(x >= t, a, -a)
            signs = unpack_weights(c.weight_packed, c.in_channels // c.groups)
            y = F.conv2d(act, signs, None, c.stride, c.padding, 1, c.groups)
            y = y * c.scale.view(1, -1, 1, 1) + c.bias.view(1, -1, 1, 1)
            return y if residual is None else y + residual
        return self._bitplanes(xp, alpha, residual)

    def _bitplanes(self, xp: Tensor, alpha: Tensor, residual: Tensor | None) -> Tensor:
        """sum over bit planes of |alpha| (see the module docstring); all convs on packed bits."""
        c = self.conv
        n = alpha.shape[0]
        levels = 2**self.planes - 1

        def words(bits: Tensor) -> Tensor:
            # (N, C) bool -> (N, 1, 1, words) int32 laid out like the packed activations
            return pack_bits_last(bits.reshape(n, c.groups, -1)).reshape(n, 1, 1, -1)

        neg = alpha < 0
        mag = alpha.abs()
        top = mag.amax(1)
        safe = torch.where(top > 0, top, torch.ones_like(top))
        q = torch.round(mag / safe[:, None] * levels).to(torch.int64)
        unit = torch.where(top > 0, top / levels, torch.zeros_like(top))
        base = xp ^ words(neg) if bool(neg.any()) else xp
        y = self._conv(base, c.weight_packed, scale=c.scale, bias=c.bias, sample_scale=unit * (levels / 2),
                       residual=residual)
        for j in range(self.planes):
            plane = base ^ words(((q >> j) & 1) == 0)  # s_j = -s where bit j of q is 0
            y = self._conv(plane, c.weight_packed, scale=c.scale, sample_scale=unit * 2.0 ** (j - 1), residual=y)
        return y

    def forward(self, x: Tensor, residual: Tensor | None = None) -> Tensor:
        """The exported conv (+ folded BN) of x, plus `residual` (N, C_out, Ho, Wo) if given."""
        dtype = x.dtype
        y = self._forward(x.float(), residual)
        return y if dtype == y.dtype else y.to(dtype)  # thresholds and epilogue run in fp32

    def _forward(self, x: Tensor, residual: Tensor | None) -> Tensor:
        c = self.conv
        if self.shift is not None:  # training's x - alpha, so that run-time statistics see the same input
            x = x - self.shift.view(1, -1, 1, 1)
        thr, alpha = self.stats(x) if self.stats is not None else (None, None)
        thr = c.threshold if thr is None else thr
        if alpha is None and self.channel_scale is not None:
            alpha = self.channel_scale.expand(x.shape[0], -1)
        sample_scale = None
        if alpha is not None and c.in_channels == c.groups:  # each output reads one input channel: exact on bits
            idx = torch.arange(c.out_channels, device=x.device) // (c.out_channels // c.groups)
            sample_scale = alpha[:, idx].contiguous()
        if self.ones_packed is None and (alpha is None or sample_scale is not None):
            # the packed layer itself: binarize-and-pack, conv and epilogue (one call on the CPU kernels)
            return c(x, threshold=thr, sample_scale=sample_scale, residual=residual)
        xp = binarize_pack(x, thr, c.groups, backend=c.backend)
        if self.ones_packed is not None:
            extra = self._offset_terms(xp, x)
            residual = extra if residual is None else residual + extra
        if alpha is None or sample_scale is not None:
            return self._conv(xp, c.weight_packed, scale=c.scale, bias=c.bias, sample_scale=sample_scale,
                              residual=residual)
        return self._channel_scaled(x, xp, thr, alpha, residual)

    def extra_repr(self) -> str:
        extras = []
        if self.stats is not None:
            extras.append(f"dab(threshold={self.stats.threshold_mode}, scale={self.stats.scale_mode})")
        if (self.stats is not None and self.stats.runtime_scale or self.channel_scale is not None) and (
            self.in_channels != self.groups
        ):
            extras.append(f"channel_scale={self.channel_scale_mode}")
            if self.channel_scale_mode == "bitplanes":
                extras.append(f"planes={self.planes}")
        if self.ones_packed is not None:
            extras.append("offsets")
        return ", ".join(extras)


__all__ = ["CHANNEL_SCALE_MODES", "PackedConv"]
