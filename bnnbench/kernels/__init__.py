"""Bit-packed binary convolution kernels (Triton on GPU, C++ popcount on CPU) with a pure-torch reference.

- Sign convention: x >= 0 -> +1 (bit 1), x < 0 -> -1 (bit 0); sign(0) = +1.
- Layouts (`packing`): activations are NHWC-packed, (N, C, H, W) -> (N, H, W, groups * words) int32,
  channels of each group packed LSB-first into ceil(C / groups / 32) words; weights
  (C_out, C_in / groups, kh, kw) -> (C_out, kh, kw, words). Padding bits are 0 (and ignored).
- Zero padding: `binary_conv2d(x, w)` equals F.conv2d(sign(x), sign(w)) with ZERO padding, i.e. an
  out-of-range tap contributes 0 (it is masked per output pixel in the kernels, never packed as -1).
- Inner loops (`triton_conv`): impl="xor" (XOR + popcount on 32-bit words) or "dot" (int8 ±1 and
  tl.dot); "auto" picks dot for >= 32 input and >= 16 output channels per group, else xor.
- Epilogue: y = conv * scale[c] * sample_scale[n] or [n, c] + bias[c] + residual, in fp32, cast to
  out_dtype. Per-input-channel activation scales (e.g. DAB's alpha per sample and input channel)
  do not factor out of a binary conv; the export layer must fold them, not the kernel.
- Dispatch (`backend`): backend="auto" runs compiled Triton on CUDA, the Triton interpreter on CPU
  when TRITON_INTERPRET=1, else the compiled CPU kernels (`cpu`: XOR + popcount on 64-bit words,
  built on first use) where they build, and the torch reference (`reference`) otherwise;
  backend="float" is the float baseline of the benchmarks (F.conv2d, BN folded).

Importing this package imports only torch; triton is imported when a Triton backend is first used,
the CPU extension when the CPU backend is first resolved.
"""

from __future__ import annotations

from bnnbench.kernels import cpu
from bnnbench.kernels.api import (
    binarize_pack,
    binary_conv2d,
    binary_linear,
    choose_impl,
    packed_conv2d,
)
from bnnbench.kernels.backend import resolve_backend, triton_available
from bnnbench.kernels.layer import PackedBinaryConv2d
from bnnbench.kernels.packing import (
    num_words,
    pack_activations,
    pack_weights,
    sign_pm1,
    unpack_activations,
    unpack_weights,
)

__all__ = [
    "PackedBinaryConv2d",
    "binarize_pack",
    "binary_conv2d",
    "binary_linear",
    "choose_impl",
    "cpu",
    "num_words",
    "pack_activations",
    "pack_weights",
    "packed_conv2d",
    "resolve_backend",
    "sign_pm1",
    "triton_available",
    "unpack_activations",
    "unpack_weights",
]
