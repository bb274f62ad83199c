"""Triton kernels for the bit-packed binary conv2d (implicit GEMM) with a fused epilogue.

GEMM view: M = N * Ho * Wo output pixels (BLOCK_M), N = output channels (BLOCK_N), K = kh * kw taps
times the packed channel words of one group, walked by ONE flat loop over (tap, word chunk) so the
address math stays out of unrolled tap loops and loads can be software-pipelined. Layouts are the
ones of `packing`: activations NHWC-packed (N, H, W, groups * words), weights
(C_out, kh, kw, words), padding bits 0 in both.

Zero padding: an out-of-range tap of the float conv multiplies a 0, so it must contribute 0 here
(it is NOT packed as -1). Each output pixel keeps two bit masks, in-range tap rows and in-range
tap columns (so kh, kw <= 32 on this path); a tap is in range iff both bits are set.

- ``xor``: mismatching bits popcount(a XOR w) are summed over in-range taps only (AND with an
  all-ones/zero mask), and the result is taps_in_range * K - 2 * mismatches, K = real channels per
  group; taps_in_range = popcount(row mask) * popcount(col mask). Padding bits are 0 by the
  packing convention and are also masked off in the last word, so foreign padding cannot count.
  Popcount is the SWAR bit trick on uint32, because libdevice popc does not run in the
  interpreter; LLVM turns this canonical form into one ``popc.b32`` (checked in the sm_90 PTX).
  Tiles are [channels, pixels]; channels of different groups may share a tile, so depth-wise
  convs do not waste a 16-wide channel tile.
- ``dot``: words are expanded to int8 ±1 (0 for out-of-range taps and padding channels) in tiles
  of 32 * BLOCK_KW channels and multiplied with ``tl.dot`` into int32 (int8 wgmma/mma on GPU).
  A tile never spans two groups (grid axis 2 is the group).

One kernel (`conv_kernel`) holds both: the pixels' tap masks and the epilogue are shared, the
inner loop is the `tl.constexpr` choice `XOR` (so each launch compiles only its own). Both are
exact integer convs. Epilogue, in fp32: y = acc * scale[c] * sample_scale[n(, c)]
+ bias[c] + residual[n, c, h, w], stored as out_dtype (or the raw int32 count). Offsets into the
packed tensors are int32 (packed tensors are 32x smaller than the float ones); output offsets int64.

The kernels call only triton.language builtins, not its @jit helpers (tl.zeros, tl.sum, tl.cdiv
...): those are built interpreted or compiled when triton is first imported, so a process that
imported triton before setting TRITON_INTERPRET=1 could not run them in the interpreter.

Default tiles were chosen so that ptxas (sm_90, triton 3.8) reports no register spills; they are
not tuned on hardware (experiments/kernels/bench_kernels.py --sweep does that).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from bnnbench.kernels.limits import MAX_INT32_OFFSET, MAX_KERNEL


@triton.jit
def popcount32(x):
    """Number of set bits of each 32-bit lane (SWAR; logical shifts via uint32)."""
    u = x.to(tl.uint32, bitcast=True)
    u = u - ((u >> 1) & 0x55555555)
    u = (u & 0x33333333) + ((u >> 2) & 0x33333333)
    u = (u + (u >> 4)) & 0x0F0F0F0F
    u = (u * 0x01010101) >> 24
    return u.to(tl.int32, bitcast=True)


@triton.jit
def _pix2(v, CH_FIRST: tl.constexpr):
    # Broadcast a per-pixel vector along the pixel axis of a (pixel, channel) tile.
    if CH_FIRST:
        out = v[None, :]
    else:
        out = v[:, None]
    return out


@triton.jit
def _ch2(v, CH_FIRST: tl.constexpr):
    # Broadcast a per-channel vector along the channel axis of a (pixel, channel) tile.
    if CH_FIRST:
        out = v[:, None]
    else:
        out = v[None, :]
    return out


@triton.jit
def _epilogue_store(
    acc,
    offs_m,
    m_mask,
    offs_n,
    n_mask,
    HO,
    WO,
    out_ptr,
    scale_ptr,
    bias_ptr,
    ss_ptr,
    res_ptr,
    s_on,
    s_oc,
    s_oh,
    s_ow,
    s_rn,
    s_rc,
    s_rh,
    s_rw,
    s_sn,
    s_sc,
    HAS_SCALE: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    HAS_SS: tl.constexpr,
    HAS_RES: tl.constexpr,
    OUT_INT: tl.constexpr,
    CH_FIRST: tl.constexpr,
):
    """Apply the epilogue to acc ([M, N] tile, or [N, M] if CH_FIRST) and store it."""
    ow = offs_m % WO
    t = offs_m // WO
    oh = t % HO
    n = (t // HO).to(tl.int64)
    mask = _pix2(m_mask, CH_FIRST) & _ch2(n_mask, CH_FIRST)
    out_off = _pix2(n * s_on + oh * s_oh + ow * s_ow, CH_FIRST) + _ch2(offs_n * s_oc, CH_FIRST)
    if OUT_INT:
        tl.store(out_ptr + out_off, acc, mask=mask)
    else:
        y = acc.to(tl.float32)
        if HAS_SCALE:
            sc = tl.load(scale_ptr + offs_n, mask=n_mask, other=0.0).to(tl.float32)
            y = y * _ch2(sc, CH_FIRST)
        if HAS_SS:
            ss_off = _pix2(n * s_sn, CH_FIRST) + _ch2(offs_n * s_sc, CH_FIRST)
            y = y * tl.load(ss_ptr + ss_off, mask=mask, other=0.0).to(tl.float32)
        if HAS_BIAS:
            bi = tl.load(bias_ptr + offs_n, mask=n_mask, other=0.0).to(tl.float32)
            y = y + _ch2(bi, CH_FIRST)
        if HAS_RES:
            r_off = _pix2(n * s_rn + oh * s_rh + ow * s_rw, CH_FIRST) + _ch2(
                offs_n * s_rc, CH_FIRST
            )
            y = y + tl.load(res_ptr + r_off, mask=mask, other=0.0).to(tl.float32)
        tl.store(out_ptr + out_off, y.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _row_setup(
    offs_m,
    M,
    H,
    W,
    HO,
    WO,
    WTOT,
    STRIDE_H,
    STRIDE_W,
    PAD_H,
    PAD_W,
    KH: tl.constexpr,
    KW: tl.constexpr,
):
    """Per output pixel: int32 word offset of tap (0, 0) and bit masks of in-range rows/columns."""
    m_mask = offs_m < M
    ow = offs_m % WO
    t = offs_m // WO
    oh = t % HO
    n = t // HO
    ih0 = oh * STRIDE_H - PAD_H
    iw0 = ow * STRIDE_W - PAD_W
    # Offsets may point outside the tensor for padding taps; those loads are masked.
    x_off = ((n * H + ih0) * W + iw0) * WTOT
    # Bit r of row_bits: tap row r is inside the image (bit s of col_bits likewise). Two
    # registers per pixel instead of coordinates and bounds keep the tile loop lean.
    row_bits = offs_m * 0
    col_bits = offs_m * 0
    for r in tl.static_range(KH):
        row_bits |= ((ih0 + r >= 0) & (ih0 + r < H) & m_mask).to(tl.int32) << r
    for s in tl.static_range(KW):
        col_bits |= ((iw0 + s >= 0) & (iw0 + s < W)).to(tl.int32) << s
    return x_off, row_bits, col_bits


@triton.jit
def _xor_tile(
    x_ptr, w_ptr, x_off, row_bits, col_bits, pid_n, W, CIN_G, COUT, COUT_G, WG, WTOT, LAST_MASK,
    KH: tl.constexpr, KW: tl.constexpr, TILE_IN_ONE_GROUP: tl.constexpr, BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    """The ``xor`` inner loop: a [channels, pixels] tile of exact counts, its channels and their mask."""
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)  # global output channel
    n_mask = offs_n < COUT
    w_off = offs_n * (KH * KW * WG)
    # Tiles are [channels, pixels]: lanes run along pixels, so the per-pixel state (offset and
    # tap masks) is a few registers per thread while weight words are warp-uniform loads.
    if TILE_IN_ONE_GROUP:
        x_off = x_off + ((pid_n * BLOCK_N) // COUT_G) * WG
    else:
        # Rows of one tile read different groups' words (small / depth-wise groups).
        x_off2 = ((offs_n // COUT_G) * WG)[:, None] + x_off[None, :]

    # acc counts mismatching bits over in-range taps only
    acc = tl.full((BLOCK_N, BLOCK_M), 0, tl.int32)
    for kidx in range(0, KH * KW * WG):
        tap = kidx // WG
        word = kidx - tap * WG
        r = tap // KW
        s = tap - r * KW
        on = ((row_bits >> r) & (col_bits >> s) & 1) != 0
        keep = tl.where(on, -1, 0)  # all-ones bit mask for in-range taps
        tap_off = (r * W + s) * WTOT + word
        # Real-channel bits of this word: padding bits never count, whatever they hold.
        real = tl.where(word == WG - 1, LAST_MASK, -1)
        b = tl.load(w_ptr + w_off + kidx, mask=n_mask, other=0) & real
        if TILE_IN_ONE_GROUP:
            a = tl.load(x_ptr + (x_off + tap_off), mask=on, other=0) & real
            acc += popcount32(b[:, None] ^ a[None, :]) & keep[None, :]
        else:
            a = tl.load(x_ptr + (x_off2 + tap_off), mask=n_mask[:, None] & on[None, :], other=0)
            acc += popcount32(b[:, None] ^ (a & real)) & keep[None, :]
    # Each in-range tap contributes CIN_G - 2 * mismatches; out-of-range taps contribute 0.
    taps = popcount32(row_bits) * popcount32(col_bits)
    return taps[None, :] * CIN_G - 2 * acc, offs_n, n_mask


@triton.jit
def _dot_tile(
    x_ptr, w_ptr, x_off, row_bits, col_bits, pid_n, W, CIN_G, COUT_G, WG, WTOT,
    KH: tl.constexpr, KW: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    BLOCK_KW: tl.constexpr,
):
    """The ``dot`` inner loop: a [pixels, channels] tile of group `program_id(2)`, its channels and their mask."""
    BLOCK_K: tl.constexpr = BLOCK_KW * 32
    g = tl.program_id(2)
    x_off = x_off + g * WG
    offs_ng = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    n_mask = offs_ng < COUT_G
    offs_n = g * COUT_G + offs_ng
    w_off = offs_n * (KH * KW * WG)
    kk = tl.arange(0, BLOCK_K)
    kwi = tl.arange(0, BLOCK_KW)
    bits = tl.arange(0, 32)

    acc = tl.full((BLOCK_M, BLOCK_N), 0, tl.int32)
    n_kc = (WG + BLOCK_KW - 1) // BLOCK_KW
    for kidx in range(0, KH * KW * n_kc):
        tap = kidx // n_kc
        k0 = (kidx - tap * n_kc) * BLOCK_KW
        r = tap // KW
        s = tap - r * KW
        on = ((row_bits >> r) & (col_bits >> s) & 1) != 0
        ch_ok = (k0 * 32 + kk) < CIN_G
        # Load whole words, then expand each to its 32 bits (bit j of word w is channel 32w + j).
        kw_ok = (k0 + kwi) < WG
        a_w = tl.load(
            x_ptr + (x_off + ((r * W + s) * WTOT + k0))[:, None] + kwi[None, :],
            mask=on[:, None] & kw_ok[None, :],
            other=0,
        )
        a_bits = tl.reshape((a_w[:, :, None] >> bits[None, None, :]) & 1, (BLOCK_M, BLOCK_K))
        a_mask = on[:, None] & ch_ok[None, :]
        a = tl.where(a_mask, a_bits * 2 - 1, 0).to(tl.int8)
        b_w = tl.load(
            w_ptr + (kwi + (tap * WG + k0))[:, None] + w_off[None, :],
            mask=kw_ok[:, None] & n_mask[None, :],
            other=0,
        )
        b_bits = tl.reshape((b_w[:, None, :] >> bits[None, :, None]) & 1, (BLOCK_K, BLOCK_N))
        # No mask on b's values: a is already 0 on padding channels, and columns past COUT_G
        # are never stored.
        b = (b_bits * 2 - 1).to(tl.int8)
        acc = tl.dot(a, b, acc)
    return acc, offs_n, n_mask


@triton.jit
def conv_kernel(
    x_ptr,
    w_ptr,
    out_ptr,
    scale_ptr,
    bias_ptr,
    ss_ptr,
    res_ptr,
    M,
    H,
    W,
    HO,
    WO,
    CIN_G,
    COUT,
    COUT_G,
    WG,
    WTOT,
    STRIDE_H,
    STRIDE_W,
    PAD_H,
    PAD_W,
    s_on,
    s_oc,
    s_oh,
    s_ow,
    s_rn,
    s_rc,
    s_rh,
    s_rw,
    s_sn,
    s_sc,
    LAST_MASK,
    KH: tl.constexpr,
    KW: tl.constexpr,
    XOR: tl.constexpr,
    TILE_IN_ONE_GROUP: tl.constexpr,
    HAS_SCALE: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    HAS_SS: tl.constexpr,
    HAS_RES: tl.constexpr,
    OUT_INT: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_KW: tl.constexpr,
):
    """One packed conv: the pixels' tap masks, the inner loop chosen by `XOR` (``xor``: popcount
    over [channels, pixels] tiles, `TILE_IN_ONE_GROUP`, `LAST_MASK`; ``dot``: int8 tl.dot over
    [pixels, channels] tiles of one group, `BLOCK_KW`), then the fused epilogue."""
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    m_mask = offs_m < M
    x_off, row_bits, col_bits = _row_setup(
        offs_m, M, H, W, HO, WO, WTOT, STRIDE_H, STRIDE_W, PAD_H, PAD_W, KH, KW
    )
    if XOR:
        acc, offs_n, n_mask = _xor_tile(
            x_ptr, w_ptr, x_off, row_bits, col_bits, pid_n, W, CIN_G, COUT, COUT_G, WG, WTOT, LAST_MASK,
            KH, KW, TILE_IN_ONE_GROUP, BLOCK_M, BLOCK_N,
        )
    else:
        acc, offs_n, n_mask = _dot_tile(
            x_ptr, w_ptr, x_off, row_bits, col_bits, pid_n, W, CIN_G, COUT_G, WG, WTOT,
            KH, KW, BLOCK_M, BLOCK_N, BLOCK_KW,
        )
    _epilogue_store(
        acc,
        offs_m,
        m_mask,
        offs_n,
        n_mask,
        HO,
        WO,
        out_ptr,
        scale_ptr,
        bias_ptr,
        ss_ptr,
        res_ptr,
        s_on,
        s_oc,
        s_oh,
        s_ow,
        s_rn,
        s_rc,
        s_rh,
        s_rw,
        s_sn,
        s_sc,
        HAS_SCALE,
        HAS_BIAS,
        HAS_SS,
        HAS_RES,
        OUT_INT,
        CH_FIRST=XOR,
    )


def _pow2(x: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, triton.next_power_of_2(max(1, x))))


def packed_conv2d_triton(
    x_packed: torch.Tensor,
    w_packed: torch.Tensor,
    in_channels: int,
    stride: tuple[int, int],
    padding: tuple[int, int],
    groups: int,
    *,
    scale: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    sample_scale: torch.Tensor | None = None,
    residual: torch.Tensor | None = None,
    out_dtype: torch.dtype = torch.float32,
    impl: str = "xor",
    block_m: int | None = None,
    block_n: int | None = None,
    block_k_words: int | None = None,
    num_warps: int | None = None,
    num_stages: int | None = None,
) -> torch.Tensor:
    """Launch the packed conv kernel on validated, contiguous operands (see `api.packed_conv2d`)."""
    n, h, w, wtot = x_packed.shape
    cout, kh, kw, wg = w_packed.shape
    cin_g, cout_g = in_channels // groups, cout // groups
    ho = (h + 2 * padding[0] - kh) // stride[0] + 1
    wo = (w + 2 * padding[1] - kw) // stride[1] + 1
    m = n * ho * wo
    if kh > MAX_KERNEL or kw > MAX_KERNEL:
        raise ValueError(f"kernel size {(kh, kw)} exceeds {MAX_KERNEL} on the Triton path")
    if max(x_packed.numel(), w_packed.numel(), m) > MAX_INT32_OFFSET:
        raise ValueError("packed operands or output pixels exceed int32 offsets; split the batch")
    out = torch.empty((n, cout, ho, wo), dtype=out_dtype, device=x_packed.device)
    if m == 0 or cout == 0:
        return out

    dummy = out  # never read: the matching HAS_* flag is False
    if sample_scale is not None and sample_scale.dim() == 1:
        s_sn, s_sc = sample_scale.stride(0), 0
    elif sample_scale is not None:
        s_sn, s_sc = sample_scale.stride()
    else:
        s_sn, s_sc = 0, 0
    r_strides = residual.stride() if residual is not None else (0, 0, 0, 0)
    on_gpu = x_packed.device.type == "cuda"
    common = (
        x_packed,
        w_packed,
        out,
        scale if scale is not None else dummy,
        bias if bias is not None else dummy,
        sample_scale if sample_scale is not None else dummy,
        residual if residual is not None else dummy,
        m,
        h,
        w,
        ho,
        wo,
        cin_g,
        cout,
        cout_g,
        wg,
        wtot,
        stride[0],
        stride[1],
        padding[0],
        padding[1],
        *out.stride(),
        *r_strides,
        s_sn,
        s_sc,
    )
    flags = dict(
        KH=kh,
        KW=kw,
        HAS_SCALE=scale is not None,
        HAS_BIAS=bias is not None,
        HAS_SS=sample_scale is not None,
        HAS_RES=residual is not None,
        OUT_INT=out_dtype == torch.int32,
    )
    launch = {}
    if num_warps is not None:
        launch["num_warps"] = num_warps
    if num_stages is not None:
        launch["num_stages"] = num_stages

    if impl == "xor":
        bm = block_m or (128 if on_gpu else _pow2(m, 16, 128))
        bn = block_n or _pow2(cout, 16, 64)
        if on_gpu:
            launch.setdefault("num_warps", 8 if bm * bn >= 8192 else 4)
        grid = (triton.cdiv(m, bm), triton.cdiv(cout, bn))
        rem = cin_g - 32 * (wg - 1)  # real channels in the last word, 1..32
        last_mask = (1 << rem) - 1 if rem < 32 else -1
        conv_kernel[grid](
            *common,
            last_mask,
            XOR=True,
            TILE_IN_ONE_GROUP=groups == 1 or cout_g % bn == 0,
            BLOCK_M=bm,
            BLOCK_N=bn,
            BLOCK_KW=1,  # unused by the xor loop
            **flags,
            **launch,
        )
    elif impl == "dot":
        bn = block_n or _pow2(cout_g, 16, 128)
        bm = block_m or ((128 if bn >= 64 else 64) if on_gpu else _pow2(m, 16, 128))
        bkw = block_k_words or (_pow2(wg, 1, 2 if bn == 128 else 1) if on_gpu else _pow2(wg, 1, 2))
        if on_gpu:
            launch.setdefault("num_warps", 8 if bm * bn >= 8192 else 4)
            launch.setdefault("num_stages", 3)
        grid = (triton.cdiv(m, bm), triton.cdiv(cout_g, bn), groups)
        conv_kernel[grid](
            *common,
            -1,  # LAST_MASK: unused by the dot loop (padding channels are zeroed as int8)
            XOR=False,
            TILE_IN_ONE_GROUP=False,  # unused: a dot tile never spans two groups
            BLOCK_M=bm,
            BLOCK_N=bn,
            BLOCK_KW=bkw,
            **flags,
            **launch,
        )
    else:
        raise ValueError(f"impl={impl!r} is not valid here; choose 'xor' or 'dot'")
    return out
