"""Exact packing thresholds: the float t with ``x >= t`` iff the training-side sign is +1.

A binarizer's sign is ``f(x) >= 0`` for an elementwise f evaluated in float32 (x * k + b,
(x - beta) / alpha, ...). Such an f is monotone in x even after rounding (each IEEE op is a
monotone function of its input), so the floats where the sign is +1 form an up-set (f
increasing), a down-set (f decreasing) or everything/nothing (f constant). The packed kernels
take bits ``x >= t``, an up-set, so a down-set becomes its complement with the channel's sign
flipped (s = -bit, exactly: the complement of a down-set {x <= u} is {x > u}). t is found by
bisection over the ordered float32 bit patterns, evaluating the SAME torch expression as
training, so the bits match training's signs bit for bit (ties and rounding included); an
analytic -b/k would differ within an ulp of the threshold.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

_F32_MAX = torch.finfo(torch.float32).max
_SIGN = 1 << 31


def _to_key(x: torch.Tensor) -> torch.Tensor:
    """Order-preserving int64 key of float32 values (-0.0 and +0.0 share key 0)."""
    i = x.float().contiguous().view(torch.int32).to(torch.int64)
    return torch.where(i >= 0, i, -(i & 0x7FFFFFFF))


def _from_key(k: torch.Tensor) -> torch.Tensor:
    """Inverse of `_to_key` (key 0 gives +0.0)."""
    i = torch.where(k >= 0, k, -k - _SIGN)
    return i.to(torch.int32).view(torch.float32)


def exact_thresholds(
    sign_of: Callable[[torch.Tensor], torch.Tensor], channels: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(threshold (C,), flip (C,) bool) with sign_of(x) == +1 iff ((x >= t) xor flip), per channel.

    `sign_of` maps a (C,) float32 tensor (one candidate x per channel) to a (C,) bool tensor
    (True where training's sign is +1) and must be monotone in x per channel. Constant channels
    get t = -inf (always +1) or +inf (always -1) and no flip.
    """
    lo_x = torch.full((channels,), -_F32_MAX)
    hi_x = torch.full((channels,), _F32_MAX)
    p_lo, p_hi = sign_of(lo_x), sign_of(hi_x)
    flip = p_lo & ~p_hi  # decreasing: pack the complement, flip the channel
    constant = p_lo == p_hi

    def up(x: torch.Tensor) -> torch.Tensor:
        return sign_of(x) ^ flip

    lo, hi = _to_key(lo_x), _to_key(hi_x)  # invariant for non-constant channels: up(lo) false, up(hi) true
    while bool(((hi - lo) > 1).any()):
        mid = (lo + hi) // 2
        take = up(_from_key(mid))
        hi = torch.where(take, mid, hi)
        lo = torch.where(take, lo, mid)
    t = _from_key(hi)
    inf = torch.full_like(t, float("inf"))
    t = torch.where(constant, torch.where(p_lo, -inf, inf), t)
    return t, flip & ~constant
