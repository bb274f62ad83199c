"""Packed binary inference on this CPU vs fp32: per layer and per whole exported model.

Run from the repository root: ``python experiments/kernels/bench_cpu.py`` (part of
``make bench-kernel``); ``--quick`` for one batch and one thread count. See
experiments/kernels/README.md for the measured tables and how to read them.

Per layer (ResNet-18 stage convs, ReActNet-A's strided 3x3 and 1x1 convs, BD-Net's depth-wise
convs), at each batch and thread count, all on the same ±1 data and measured in the same run:

- ``fp32 conv``: ``F.conv2d`` on ±1 float tensors (oneDNN; the baseline the ratios divide),
- ``float layer``: the exported layer's float baseline (backend="float": sign(x - t), F.conv2d
  with the folded BN scale and bias),
- ``int8 conv``: torch's quantized conv (fbgemm / qnnpack) on pre-quantized ±1 input, where the
  engine exists,
- ``packed layer``: `PackedBinaryConv2d` on the compiled CPU kernels (threshold, pack, conv and
  the scale / bias epilogue in one call, weights prepacked), from the same float input.

Every packed result is first checked bit-exact against ``F.conv2d`` on the sign tensors.
Times are the minimum over 3 rounds of ``--repeat`` back-to-back runs after a warm-up (minimum,
because on a shared machine noise only adds time; back to back, so each method runs with warm
caches, as in the usual layer benchmark), the methods taking turns between rounds so that drifts
hit them alike. ``word ops/ns``
is the packed layer's 64-bit XOR-popcount rate; ``% probe`` compares it with a register-only
probe of the same instructions (`popcount_probe`), the arithmetic limit on this core.

Whole models (ReActNet-A and ResNet-18 with binary bodies, 224x224, batch 1): the exported model
with ``backend="float"`` (the same network in fp32, BN folded into the packed layers' scale and
bias; BN of other blocks stays a float layer in both) vs ``backend="cpu"``, with the outputs'
largest difference relative to the output scale and the arg-max agreement.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # runs from a source tree without installation

from bnnbench.kernels import PackedBinaryConv2d, cpu  # noqa: E402

# (name, C_in, H=W, C_out, kernel, stride, padding, groups)
SHAPES = [
    ("resnet18 stage1 3x3", 64, 56, 64, 3, 1, 1, 1),
    ("resnet18 stage2 3x3", 128, 28, 128, 3, 1, 1, 1),
    ("resnet18 stage3 3x3", 256, 14, 256, 3, 1, 1, 1),
    ("resnet18 stage4 3x3", 512, 7, 512, 3, 1, 1, 1),
    ("reactnet-a 3x3 s2", 128, 56, 128, 3, 2, 1, 1),
    ("reactnet-a 1x1 64->128", 64, 56, 128, 1, 1, 0, 1),
    ("reactnet-a 1x1 256->512", 256, 14, 512, 1, 1, 0, 1),
    ("reactnet-a 1x1 1024", 1024, 7, 1024, 1, 1, 0, 1),
    ("bdnet dw 3x3 128@56", 128, 56, 128, 3, 1, 1, 128),
    ("bdnet dw 3x3 s2 256@28", 256, 28, 256, 3, 2, 1, 256),
    ("bdnet dw 3x3 512@14", 512, 14, 512, 3, 1, 1, 512),
]
STAGES = [s[0] for s in SHAPES[:4]]
MODELS = [("reactnet_a", {}), ("resnet18", {})]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeat", type=int, default=15, help="timed runs per method (minimum reported)")
    p.add_argument("--no-models", action="store_true", help="skip the whole-model comparison")
    p.add_argument("--quick", action="store_true", help="batch 1, one thread, 5 repeats")
    p.add_argument("--json", type=Path, help="also write every measurement to this JSON file")
    p.add_argument("--layers", default="", help="only the layers whose name contains this (e.g. 'dw')")
    return p.parse_args(argv)


def sign(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t >= 0, 1.0, -1.0)


def time_blocks(fns: dict[str, Callable[[], object]], repeat: int, rounds: int = 3) -> dict[str, float]:
    """Minimum seconds per call of each function: `rounds` rounds in which each function runs
    `repeat` times back to back (warm caches, as a layer inside a model mostly sees them),
    the functions taking turns between rounds so that drifts of a shared machine hit them alike."""
    best = {k: math.inf for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            f()  # warm-up
            for _ in range(repeat):
                t = time.perf_counter()
                f()
                best[k] = min(best[k], time.perf_counter() - t)
    return best


def probe_rate() -> float:
    """64-bit XOR-popcount-add word operations per ns of the best compiled variant, registers only."""
    ext, code = cpu.load(), cpu.SIMD_CODES[cpu.resolve_simd()]
    ext.popcount_probe(10_000, code)
    best = math.inf
    for _ in range(5):
        t = time.perf_counter()
        n = ext.popcount_probe(2_000_000, code)
        best = min(best, (time.perf_counter() - t) / n)
    return 1e-9 / best


def int8_conv(x: torch.Tensor, w: torch.Tensor, stride: int, padding: int, groups: int) -> Callable[[], object] | None:
    """torch's quantized conv on ±1 data (None where no quantized engine runs here)."""
    engines = [e for e in ("fbgemm", "x86", "qnnpack") if e in torch.backends.quantized.supported_engines]
    if not engines:
        return None
    torch.backends.quantized.engine = engines[0]
    from torch.ao.nn.quantized import Conv2d as QConv2d

    cout, cin_g, k, _ = w.shape
    with warnings.catch_warnings():  # torch marks its quantized tensors deprecated; still its int8 path
        warnings.simplefilter("ignore", UserWarning)
        conv = QConv2d(cin_g * groups, cout, k, stride, padding, groups=groups)
        conv.set_weight_bias(torch.quantize_per_tensor(w, 1.0, 0, torch.qint8), None)
        xq = torch.quantize_per_tensor(x, 1.0, 128, torch.quint8)
    conv.scale, conv.zero_point = float(cin_g * k * k) / 127.0, 128  # the count's range fits uint8
    return lambda: conv(xq)


def bench_layers(args: argparse.Namespace, rate: float) -> list[dict]:
    """Every shape x batch x thread count; prints one table per (batch, threads)."""
    rows = []
    g = torch.Generator().manual_seed(0)
    for batch in args.batches:
        for threads in args.threads:
            torch.set_num_threads(threads)
            print(f"\n### batch {batch}, {threads} thread(s)\n")
            print("| layer | fp32 conv ms | float layer ms | int8 conv ms | packed layer ms | packed / fp32 | word ops/ns | % probe |")
            print("|---|---|---|---|---|---|---|---|")
            for name, cin, hw, cout, k, stride, pad, groups in SHAPES:
                if args.layers not in name:
                    continue
                x = torch.randn(batch, cin, hw, hw, generator=g)
                w = torch.randn(cout, cin // groups, k, k, generator=g)
                xs, ws = sign(x), sign(w)
                scale, bias = torch.rand(cout, generator=g) + 0.5, torch.randn(cout, generator=g)
                packed = PackedBinaryConv2d.from_float(w, stride, pad, groups, scale, bias, backend="cpu")
                flt = PackedBinaryConv2d.from_float(w, stride, pad, groups, scale, bias, backend="float")
                raw = PackedBinaryConv2d.from_float(w, stride, pad, groups, backend="cpu", out_dtype=torch.int32)
                exact = torch.equal(raw(x), F.conv2d(xs, ws, None, stride, pad, 1, groups).round().int())
                fns = {
                    "fp32": partial(F.conv2d, xs, ws, None, stride, pad, 1, groups),
                    "float": partial(flt, x),
                    "packed": partial(packed, x),
                }
                q = int8_conv(xs, ws, stride, pad, groups)
                if q is not None:
                    fns["int8"] = q
                with torch.no_grad():
                    t = time_blocks(fns, args.repeat)
                ho = (hw + 2 * pad - k) // stride + 1
                words = batch * ho * ho * cout * k * k * math.ceil(cin // groups / 64)
                ops_ns = words / t["packed"] * 1e-9
                row = {"layer": name, "batch": batch, "threads": threads, "exact": exact,
                       **{f"{m}_ms": v * 1e3 for m, v in t.items()}, "speedup": t["fp32"] / t["packed"],
                       "word_ops_per_ns": ops_ns, "probe_fraction": ops_ns / (rate * threads)}
                rows.append(row)
                int8 = f"{row['int8_ms']:.3f}" if "int8_ms" in row else "-"
                flag = "" if exact else " MISMATCH"
                print(f"| {name} | {row['fp32_ms']:.3f} | {row['float_ms']:.3f} | {int8} | {row['packed_ms']:.3f} | "
                      f"{row['speedup']:.2f}x{flag} | {ops_ns:.2f} | {100 * row['probe_fraction']:.0f} |")
            stage = [r["speedup"] for r in rows if r["batch"] == batch and r["threads"] == threads and r["layer"] in STAGES]
            if not stage:
                continue
            print(f"\nResNet-18 stage convs: geometric mean {math.exp(sum(map(math.log, stage)) / len(stage)):.2f}x, "
                  f"lowest {min(stage):.2f}x faster than fp32")
    return rows


def bench_models(args: argparse.Namespace) -> list[dict]:
    """Whole exported models at 224x224, batch 1: float baseline vs packed CPU kernels."""
    from bnnbench import models
    from bnnbench.export import export

    rows = []
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    print("\n### whole models, 224x224, batch 1\n")
    print("| model | threads | float model ms (BN folded) | packed model ms | speedup | max diff / output scale | argmax equal |")
    print("|---|---|---|---|---|---|---|")
    for name, kwargs in MODELS:
        torch.manual_seed(0)
        model = models.build(name, **kwargs).eval()
        flt, packed = export(model, backend="float"), export(model, backend="cpu")
        with torch.no_grad():
            ref, got = flt(x), packed(x)
            diff = float((ref - got).abs().max() / ref.abs().max())
            same = bool((ref.argmax(1) == got.argmax(1)).all())
            for threads in args.threads:
                torch.set_num_threads(threads)
                t = time_blocks({"float": partial(flt, x), "packed": partial(packed, x)}, max(3, args.repeat // 3))
                row = {"model": name, "threads": threads, "float_ms": t["float"] * 1e3, "packed_ms": t["packed"] * 1e3,
                       "speedup": t["float"] / t["packed"], "max_diff_rel": diff, "argmax_equal": same}
                rows.append(row)
                print(f"| {name} | {threads} | {row['float_ms']:.1f} | {row['packed_ms']:.1f} | {row['speedup']:.2f}x | "
                      f"{diff:.1e} | {same} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 on success (also without the CPU kernels: it says why and stops)."""
    args = parse_args(argv)
    if args.quick:
        args.batches, args.threads, args.repeat = [1], [1], 5
    if not cpu.available():
        print(f"CPU kernels not available ({cpu.unavailable_reason()}); nothing to benchmark")
        return 0
    rate = probe_rate()
    print(f"# Packed binary inference on this CPU ({platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, simd {cpu.resolve_simd()}, probe {rate:.2f} word ops/ns per thread)")
    result = {"simd": cpu.resolve_simd(), "probe_word_ops_per_ns": rate, "layers": bench_layers(args, rate)}
    if not args.no_models:
        result["models"] = bench_models(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
