"""Pure-torch reference of the packed binary conv: the test oracle and the CPU fallback path.

The packed operands are unpacked to ±1 floats and convolved with ``F.conv2d`` and zero padding,
which is exactly the semantics the Triton kernels implement: an out-of-range tap contributes 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bnnbench.kernels.packing import unpack_activations, unpack_weights

# float32 sums of ±1 products are exact while every partial sum stays below 2**24.
_FP32_EXACT = 2**24


def packed_conv2d_reference(
    x_packed: torch.Tensor,
    w_packed: torch.Tensor,
    in_channels: int,
    stride: tuple[int, int],
    padding: tuple[int, int],
    groups: int,
) -> torch.Tensor:
    """Exact integer binary conv of packed operands: int32 (N, C_out, Ho, Wo)."""
    cg = in_channels // groups
    kh, kw = w_packed.shape[1], w_packed.shape[2]
    dtype = torch.float32 if cg * kh * kw < _FP32_EXACT else torch.float64
    a = unpack_activations(x_packed, in_channels, groups, dtype)
    w = unpack_weights(w_packed, cg, dtype)
    y = F.conv2d(a, w, None, stride, padding, 1, groups)
    return y.round().to(torch.int32)


def epilogue_reference(
    acc: torch.Tensor,
    scale: torch.Tensor | None,
    bias: torch.Tensor | None,
    sample_scale: torch.Tensor | None,
    residual: torch.Tensor | None,
    out_dtype: torch.dtype,
) -> torch.Tensor:
    """y = acc * scale[c] * sample_scale[n(, c)] + bias[c] + residual, in fp32, cast to out_dtype."""
    if out_dtype == torch.int32:
        return acc
    y = acc.to(torch.float32)
    if scale is not None:
        y = y * scale.to(torch.float32).view(1, -1, 1, 1)
    if sample_scale is not None:
        shape = (-1, 1, 1, 1) if sample_scale.dim() == 1 else (*sample_scale.shape, 1, 1)
        y = y * sample_scale.to(torch.float32).reshape(shape)
    if bias is not None:
        y = y + bias.to(torch.float32).view(1, -1, 1, 1)
    if residual is not None:
        y = y + residual.to(torch.float32)
    return y.to(out_dtype)
