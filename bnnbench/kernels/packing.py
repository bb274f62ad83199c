"""Bit packing of sign tensors into 32-bit words (pure torch, any device).

Conventions shared by every backend of `bnnbench.kernels`:

- Sign: ``x >= 0`` -> bit 1 (+1); ``x < 0`` or NaN -> bit 0 (-1). So sign(0) = sign(-0.0) = +1.
  With a threshold ``t`` the bit is ``x >= t`` (equal to sign(x - t) for finite values).
- Channel ``c`` of a group lives in word ``c // 32``, bit ``c % 32`` (LSB first). Words are stored
  as int32 (two's complement: bit 31 is the storage sign bit, it carries channel 31).
- Channels are packed *per group*: every group starts on a fresh word, so a grouped or depth-wise
  conv reads whole words. Padding bits (channels past the group's real channel count in its last
  word) are 0 in activations AND weights: they XOR to 0, add nothing to a popcount, and unpack to
  nothing (the real channel count is passed to the unpack functions and the conv).
- Activations: (N, C, H, W) float -> (N, H, W, groups * ceil(C / groups / 32)) int32,
  "NHWC-packed": one conv tap reads its channel words contiguously.
- Weights: (C_out, C_in / groups, kh, kw) float -> (C_out, kh, kw, ceil(C_in / groups / 32)) int32.
"""

from __future__ import annotations

import torch

WORD_BITS = 32


def num_words(channels: int) -> int:
    """Number of 32-bit words that hold ``channels`` bits."""
    return -(-channels // WORD_BITS)


def sign_pm1(x: torch.Tensor) -> torch.Tensor:
    """Sign with sign(0) = +1, as ±1 in x's dtype (the convention the packed kernels implement)."""
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype if x.is_floating_point() else torch.float32)


def _bit_weights(device: torch.device) -> torch.Tensor:
    return torch.ones(WORD_BITS, dtype=torch.int64, device=device) << torch.arange(
        WORD_BITS, dtype=torch.int64, device=device
    )


def pack_bits_last(bits: torch.Tensor) -> torch.Tensor:
    """Pack a bool tensor (..., C) along its last dim into int32 words (..., ceil(C / 32))."""
    channels = bits.shape[-1]
    pad = num_words(channels) * WORD_BITS - channels
    b = torch.nn.functional.pad(bits.to(torch.int64), (0, pad))  # padding bits are 0
    b = b.reshape(*bits.shape[:-1], -1, WORD_BITS)
    words = (b * _bit_weights(bits.device)).sum(-1)  # in [0, 2**32)
    # Reinterpret as two's complement explicitly: int64 -> int32 casts need not wrap.
    words = torch.where(words >= 2**31, words - 2**32, words)
    return words.to(torch.int32)


def unpack_bits_last(words: torch.Tensor, channels: int, dtype: torch.dtype) -> torch.Tensor:
    """Unpack int32 words (..., n_words) into ±1 values (..., channels) of ``dtype``."""
    if channels > words.shape[-1] * WORD_BITS or channels < 1:
        raise ValueError(
            f"channels={channels} does not fit in {words.shape[-1]} words of {WORD_BITS} bits"
        )
    shifts = torch.arange(WORD_BITS, dtype=torch.int32, device=words.device)
    # Arithmetic shift is fine here: only the lowest bit survives the mask.
    bits = (words.to(torch.int32).unsqueeze(-1) >> shifts) & 1
    bits = bits.reshape(*words.shape[:-1], -1)[..., :channels]
    return (bits * 2 - 1).to(dtype)


def _check_groups(channels: int, groups: int) -> None:
    if groups < 1 or channels % groups != 0:
        raise ValueError(
            f"channels={channels} is not divisible by groups={groups}; valid groups are "
            f"divisors of {channels}"
        )


def check_threshold(threshold: torch.Tensor, n: int, c: int) -> None:
    """Raise ValueError unless ``threshold`` has shape (C,) or (N, C)."""
    if tuple(threshold.shape) not in ((c,), (n, c)):
        raise ValueError(
            f"threshold has shape {tuple(threshold.shape)}; expected ({c},) per channel or "
            f"({n}, {c}) per sample and channel"
        )


def pack_activations(
    x: torch.Tensor, groups: int = 1, threshold: torch.Tensor | None = None
) -> torch.Tensor:
    """Binarize (x >= threshold) and pack (N, C, H, W) into NHWC-packed words (N, H, W, G * words)."""
    if x.dim() != 4:
        raise ValueError(f"x must be 4-D (N, C, H, W); got shape {tuple(x.shape)}")
    n, c, h, w = x.shape
    _check_groups(c, groups)
    if threshold is None:
        bits = x >= 0
    else:
        check_threshold(threshold, n, c)
        bits = x >= threshold.reshape((1, c, 1, 1) if threshold.dim() == 1 else (n, c, 1, 1))
    bits = bits.permute(0, 2, 3, 1).reshape(n, h, w, groups, c // groups)
    return pack_bits_last(bits).reshape(n, h, w, -1).contiguous()


def unpack_activations(
    packed: torch.Tensor, channels: int, groups: int = 1, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Unpack NHWC-packed words (N, H, W, G * words) to ±1 activations (N, C, H, W)."""
    if packed.dim() != 4:
        raise ValueError(f"packed must be 4-D (N, H, W, words); got shape {tuple(packed.shape)}")
    _check_groups(channels, groups)
    n, h, w, total = packed.shape
    cg = channels // groups
    if total != groups * num_words(cg):
        raise ValueError(
            f"packed has {total} words per pixel; channels={channels}, groups={groups} need "
            f"{groups * num_words(cg)}"
        )
    vals = unpack_bits_last(packed.reshape(n, h, w, groups, -1), cg, dtype)
    return vals.reshape(n, h, w, channels).permute(0, 3, 1, 2).contiguous()


def pack_weights(weight: torch.Tensor) -> torch.Tensor:
    """Binarize (w >= 0) and pack conv weights (C_out, C_in/g, kh, kw) -> (C_out, kh, kw, words)."""
    if weight.dim() != 4:
        raise ValueError(
            f"weight must be 4-D (C_out, C_in/groups, kh, kw); got shape {tuple(weight.shape)}"
        )
    return pack_bits_last((weight >= 0).permute(0, 2, 3, 1)).contiguous()


def unpack_weights(
    packed: torch.Tensor, in_channels_per_group: int, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Unpack packed weights (C_out, kh, kw, words) to ±1 weights (C_out, C_in/g, kh, kw)."""
    if packed.dim() != 4:
        raise ValueError(
            f"packed weight must be 4-D (C_out, kh, kw, words); got shape {tuple(packed.shape)}"
        )
    if packed.shape[-1] != num_words(in_channels_per_group):
        raise ValueError(
            f"packed weight has {packed.shape[-1]} words; in_channels_per_group="
            f"{in_channels_per_group} needs {num_words(in_channels_per_group)}"
        )
    return unpack_bits_last(packed, in_channels_per_group, dtype).permute(0, 3, 1, 2).contiguous()
