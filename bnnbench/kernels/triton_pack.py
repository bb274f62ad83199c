"""Fused binarize-and-pack Triton kernel: float activations -> NHWC-packed sign words, one read.

Bit = ``x >= t`` (t = 0 without threshold; a (C,) threshold such as ReActNet's beta, or an (N, C)
one such as DAB's k * mu + b), compared in the dtype torch would promote x and t to (fp32, or
fp64 for fp64 operands): the same bits as `packing.pack_activations`.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _bit_or(a, b):
    return a | b


@triton.jit
def binarize_pack_kernel(
    x_ptr,
    t_ptr,
    out_ptr,
    P,
    HW,
    W,
    CG,
    WG,
    WTOT,
    s_xn,
    s_xc,
    s_xh,
    s_xw,
    s_tn,
    s_tc,
    HAS_T: tl.constexpr,
    CMP_F64: tl.constexpr,
    BLOCK_P: tl.constexpr,
):
    pid_p = tl.program_id(0)
    j = tl.program_id(1)  # output word: group j // WG, word j % WG of that group
    g = j // WG
    offs_p = pid_p * BLOCK_P + tl.arange(0, BLOCK_P)
    p_mask = offs_p < P
    n = (offs_p // HW).to(tl.int64)
    hw = offs_p % HW
    h = hw // W
    w = hw % W
    bit = tl.arange(0, 32)
    c_local = (j % WG) * 32 + bit
    c = g * CG + c_local
    mask = p_mask[:, None] & (c_local < CG)[None, :]
    x_off = (n * s_xn + h * s_xh + w * s_xw)[:, None] + c[None, :] * s_xc
    # Compare in fp32 (exact for fp16/bf16/fp32 operands) or fp64 when torch would promote to it.
    x = tl.load(x_ptr + x_off, mask=mask, other=0.0)
    if CMP_F64:
        x = x.to(tl.float64)
    else:
        x = x.to(tl.float32)
    if HAS_T:
        t = tl.load(t_ptr + (n * s_tn)[:, None] + c[None, :] * s_tc, mask=mask, other=0.0)
        on = x >= t.to(x.dtype)
    else:
        on = x >= 0.0
    on = on & mask  # padding channels stay 0
    # uint32 keeps bit 31 a plain bit; tl.reduce with our own combine (not tl.sum, a triton @jit
    # helper) keeps the kernel runnable in the interpreter whenever triton was imported.
    word = tl.reduce(on.to(tl.uint32) << bit.to(tl.uint32)[None, :], 1, _bit_or)
    tl.store(out_ptr + offs_p.to(tl.int64) * WTOT + j, word.to(tl.int32, bitcast=True), mask=p_mask)


def binarize_pack_triton(
    x: torch.Tensor, threshold: torch.Tensor | None, groups: int, block_p: int | None = None
) -> torch.Tensor:
    """Launch the fused kernel on validated (N, C, H, W) input (any strides): (N, H, W, words)."""
    n, c, h, w = x.shape
    cg = c // groups
    wg = -(-cg // 32)
    wtot = groups * wg
    out = torch.empty((n, h, w, wtot), dtype=torch.int32, device=x.device)
    p = n * h * w
    if p == 0:
        return out
    if threshold is None:
        t, s_tn, s_tc = out, 0, 0
    elif threshold.dim() == 1:
        t, s_tn, s_tc = threshold, 0, threshold.stride(0)
    else:
        t, (s_tn, s_tc) = threshold, threshold.stride()
    cmp_dtype = x.dtype if threshold is None else torch.result_type(x, threshold)
    bp = block_p or (128 if x.device.type == "cuda" else min(128, triton.next_power_of_2(p)))
    grid = (triton.cdiv(p, bp), wtot)
    binarize_pack_kernel[grid](
        x,
        t,
        out,
        p,
        h * w,
        w,
        cg,
        wg,
        wtot,
        *x.stride(),
        s_tn,
        s_tc,
        HAS_T=threshold is not None,
        CMP_F64=cmp_dtype == torch.float64,
        BLOCK_P=bp,
    )
    return out
