"""Benchmark the bit-packed binary conv kernels against cuDNN (bf16/fp16) and int8 GEMM on a GPU.

Run from the repository root: ``python experiments/kernels/bench_kernels.py`` (``make bench-kernel``).
Without a CUDA device it prints why and exits 0. See experiments/kernels/README.md.

Counting: every conv does MACs = N * Ho * Wo * C_out * C_in/groups * k * k multiply-accumulates and
2 * MACs ops; a binary XNOR-popcount MAC counts as one MAC like a float or int8 one. Float methods
are compared with the bf16 dense peak, int8 and binary methods with the int8 dense peak.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # runs from a source tree without installation

# (name, C_in, H=W, C_out, kernel, stride, padding): ResNet-18 stage convs and one 1x1 conv.
SHAPES = [
    ("stage1 3x3", 64, 56, 64, 3, 1, 1),
    ("stage2 3x3", 128, 28, 128, 3, 1, 1),
    ("stage3 3x3", 256, 14, 256, 3, 1, 1),
    ("stage4 3x3", 512, 7, 512, 3, 1, 1),
    ("1x1 28x28", 128, 28, 256, 1, 1, 0),
]
FLOAT_METHODS = ("cudnn bf16", "cudnn fp16", "float layer bf16")

# Tile configs tried by --sweep: (block_m, block_n, block_k_words, num_warps, num_stages).
SWEEP = {
    "xor": [
        (64, 64, None, 4, 3),
        (128, 64, None, 8, 3),
        (128, 32, None, 4, 3),
        (256, 32, None, 8, 3),
        (128, 16, None, 4, 3),
    ],
    "dot": [
        (128, 128, 2, 8, 3),
        (128, 128, 1, 8, 3),
        (128, 64, 1, 8, 3),
        (64, 128, 1, 4, 3),
        (64, 64, 1, 4, 3),
        (64, 32, 2, 4, 3),
        (128, 128, 2, 8, 4),
    ],
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 32, 256])
    p.add_argument(
        "--peak-bf16-tflops",
        type=float,
        default=989.0,
        help="dense bf16 peak of the GPU (H100 SXM: ~989)",
    )
    p.add_argument(
        "--peak-int8-tops",
        type=float,
        default=1979.0,
        help="dense int8 peak of the GPU (H100 SXM: ~1979)",
    )
    p.add_argument("--warmup", type=int, default=25, help="do_bench warmup (ms)")
    p.add_argument("--rep", type=int, default=100, help="do_bench repetition time (ms)")
    p.add_argument(
        "--sweep",
        action="store_true",
        help="also try the tile configs in SWEEP and report the best per impl",
    )
    p.add_argument("--csv", type=Path, default=None, help="write all rows to this CSV file")
    return p.parse_args(argv)


def _sign(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


def _im2col_int8(x_pm1: torch.Tensor, k: int, stride: int, pad: int) -> torch.Tensor:
    # (N, C, H, W) fp16 ±1 -> (N * L, C * k * k) int8, the A operand of the int8 GEMM.
    cols = F.unfold(x_pm1, k, padding=pad, stride=stride)  # (N, C*k*k, L)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1]).to(torch.int8)


def bench_shape(
    args: argparse.Namespace,
    name: str,
    c: int,
    hw: int,
    cout: int,
    k: int,
    stride: int,
    pad: int,
    batch: int,
) -> list[dict]:
    """Time every method on one conv shape and batch; return one row per method."""
    import triton

    from bnnbench.kernels import (
        PackedBinaryConv2d,
        binarize_pack,
        choose_impl,
        pack_weights,
        packed_conv2d,
    )
    from bnnbench.kernels.triton_conv import packed_conv2d_triton

    dev = torch.device("cuda")
    gen = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(batch, c, hw, hw, device=dev, generator=gen)
    w = torch.randn(cout, c, k, k, device=dev, generator=gen)
    scale = torch.rand(cout, device=dev, generator=gen) + 0.5
    bias = torch.randn(cout, device=dev, generator=gen)
    beta = torch.randn(c, device=dev, generator=gen) * 0.1
    ho = (hw + 2 * pad - k) // stride + 1
    macs = batch * ho * ho * cout * c * k * k

    def timed(fn: Callable[[], object]) -> float:
        return triton.testing.do_bench(fn, warmup=args.warmup, rep=args.rep, return_mode="median")

    xs = {
        dt: _sign(x).to(dt).contiguous(memory_format=torch.channels_last)
        for dt in (torch.bfloat16, torch.float16)
    }
    ws = {
        dt: _sign(w).to(dt).contiguous(memory_format=torch.channels_last)
        for dt in (torch.bfloat16, torch.float16)
    }
    times: dict[str, float] = {}
    notes: dict[str, str] = {}
    times["cudnn bf16"] = timed(
        lambda: F.conv2d(xs[torch.bfloat16], ws[torch.bfloat16], None, stride, pad)
    )
    times["cudnn fp16"] = timed(
        lambda: F.conv2d(xs[torch.float16], ws[torch.float16], None, stride, pad)
    )

    a_i8 = _im2col_int8(_sign(x).half(), k, stride, pad)
    b_i8 = _sign(w).reshape(cout, -1).t().contiguous().to(torch.int8)
    if a_i8.shape[0] > 16 and a_i8.shape[1] % 8 == 0 and cout % 8 == 0:
        times["int8 _int_mm (GEMM only)"] = timed(lambda: torch._int_mm(a_i8, b_i8))
        x_half = _sign(x).half()
        times["int8 im2col + _int_mm"] = timed(
            lambda: torch._int_mm(_im2col_int8(x_half, k, stride, pad), b_i8)
        )

    x_packed = binarize_pack(x)
    w_packed = pack_weights(w)
    expected = F.conv2d(_sign(x), _sign(w), None, stride, pad)  # exact: integers < 2**24
    for impl in ("xor", "dot"):
        out = packed_conv2d(x_packed, w_packed, c, stride, pad, out_dtype=torch.float32, impl=impl)
        exact = torch.equal(out, expected)
        notes[f"packed {impl}"] = "exact" if exact else "MISMATCH"
        times[f"packed {impl}"] = timed(
            lambda impl=impl: packed_conv2d(
                x_packed, w_packed, c, stride, pad, out_dtype=torch.bfloat16, impl=impl
            )
        )
        if args.sweep:
            best = (math.inf, None)
            for bm, bn, bkw, nw, ns in SWEEP[impl]:

                def run(bm=bm, bn=bn, bkw=bkw, nw=nw, ns=ns, impl=impl) -> torch.Tensor:
                    return packed_conv2d_triton(
                        x_packed,
                        w_packed,
                        c,
                        (stride, stride),
                        (pad, pad),
                        1,
                        out_dtype=torch.bfloat16,
                        impl=impl,
                        block_m=bm,
                        block_n=bn,
                        block_k_words=bkw,
                        num_warps=nw,
                        num_stages=ns,
                    )

                try:
                    if not torch.equal(run().float(), expected):
                        continue
                    best = min(best, (timed(run), (bm, bn, bkw, nw, ns)), key=lambda b: b[0])
                except Exception as e:  # a config may not fit in shared memory / registers
                    print(f"  sweep {impl} {(bm, bn, bkw, nw, ns)} failed: {type(e).__name__}")
            if best[1] is not None:
                times[f"packed {impl} (best tile)"] = best[0]
                notes[f"packed {impl} (best tile)"] = "BM,BN,BKW,warps,stages=" + str(best[1])

    # Fused layer (threshold binarize + pack + conv + scale/bias) vs the float layer it replaces.
    layer = PackedBinaryConv2d.from_float(
        w, stride, pad, scale=scale, bias=bias, threshold=beta, out_dtype=torch.bfloat16
    )
    x_bf16 = x.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    times["packed layer (fused)"] = timed(lambda: layer(x_bf16))
    notes["packed layer (fused)"] = f"impl={choose_impl(layer.impl, c, cout)}"
    w_fold = (
        (w * scale.view(-1, 1, 1, 1))
        .to(torch.bfloat16)
        .contiguous(memory_format=torch.channels_last)
    )
    b_fold = bias.to(torch.bfloat16)
    times["float layer bf16"] = timed(lambda: F.conv2d(x_bf16, w_fold, b_fold, stride, pad))

    rows = []
    ref = times["cudnn bf16"]
    for method, ms in times.items():
        is_float = method in FLOAT_METHODS
        peak = args.peak_bf16_tflops if is_float else args.peak_int8_tops
        tops = 2 * macs / (ms * 1e-3) / 1e12
        rows.append(
            {
                "shape": name,
                "batch": batch,
                "method": method,
                "ms": ms,
                "speedup_vs_cudnn_bf16": ref / ms,
                "tops": tops,
                "peak_used": "bf16" if is_float else "int8",
                "frac_of_peak": tops / peak,
                "note": notes.get(method, ""),
            }
        )
    return rows


def print_rows(rows: list[dict]) -> None:
    """Print result rows as a fixed-width table."""
    print(
        f"{'shape':<12} {'N':>4} {'method':<26} {'ms':>9} {'x cuDNN bf16':>12} "
        f"{'TOP/s':>8} {'% peak':>8}  note"
    )
    for r in rows:
        print(
            f"{r['shape']:<12} {r['batch']:>4} {r['method']:<26} {r['ms']:>9.4f} "
            f"{r['speedup_vs_cudnn_bf16']:>12.2f} {r['tops']:>8.1f} "
            f"{100 * r['frac_of_peak']:>6.1f}% {r['peak_used']:<4}  {r['note']}"
        )


def print_weight_memory() -> None:
    """Packed vs fp32 weight bytes per shape (32x when C_in is a multiple of 32)."""
    from bnnbench.kernels import num_words

    print("\nweight memory (packed 1-bit vs fp32)")
    total_fp32 = total_packed = 0
    for name, c, _, cout, k, _, _ in SHAPES:
        fp32 = cout * c * k * k * 4
        packed = cout * k * k * num_words(c) * 4
        total_fp32, total_packed = total_fp32 + fp32, total_packed + packed
        print(
            f"  {name:<12} fp32 {fp32 / 1024:>9.1f} KiB  packed {packed / 1024:>7.1f} KiB  "
            f"ratio {fp32 / packed:.1f}x"
        )
    print(
        f"  {'total':<12} fp32 {total_fp32 / 1024:>9.1f} KiB  packed "
        f"{total_packed / 1024:>7.1f} KiB  ratio {total_fp32 / total_packed:.1f}x"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0 with a message where no GPU is available."""
    args = parse_args(argv)
    if not torch.cuda.is_available():
        print(
            "bench_kernels: no CUDA device available; the kernel benchmark needs an NVIDIA GPU. "
            "Skipping (nothing measured)."
        )
        return 0
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        print(
            "bench_kernels: TRITON_INTERPRET is set, so Triton would run in the interpreter; "
            "unset it to benchmark the compiled kernels. Skipping."
        )
        return 0
    try:
        import triton
    except ImportError:
        print("bench_kernels: triton is not installed; skipping.")
        return 0

    props = torch.cuda.get_device_properties(0)
    print(f"device: {props.name}  torch {torch.__version__}  triton {triton.__version__}")
    print(
        f"peaks: bf16 {args.peak_bf16_tflops} TFLOP/s, int8 {args.peak_int8_tops} TOP/s "
        "(binary MACs counted as MACs; float rows vs bf16 peak, others vs int8 peak)"
    )
    rows: list[dict] = []
    for batch in args.batches:
        for name, c, hw, cout, k, stride, pad in SHAPES:
            shape_rows = bench_shape(args, name, c, hw, cout, k, stride, pad, batch)
            print_rows(shape_rows)
            print()
            rows.extend(shape_rows)
            torch.cuda.empty_cache()
    print_weight_memory()
    if args.csv is not None:
        with args.csv.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"\nwrote {len(rows)} rows to {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
