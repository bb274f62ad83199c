"""Measured inference latency of an exported model: the float model vs the packed one, per layer
and whole, on this machine (BiBench's efficiency track, on the user's own CPU or GPU).

- float model: the same exported network with ``backend="float"``: every packed layer runs
  F.conv2d on sign(x - t) with its ±1 weights and its folded BN scale and bias (the float
  deployment of the same network); the layers that stay real are shared by both models.
- packed model: the export on ``backend`` (auto: the CPU popcount kernels on CPU).

Times are the minimum over ``rounds`` rounds of ``repeat`` back-to-back calls after a warm-up,
the two models taking turns (noise on a shared machine only adds time), at the thread count
in force (`torch.get_num_threads()`, recorded). Per layer: each packed layer's forward timed
through hooks during the timed whole-model passes (the minimum over passes). Memory: the bytes
of the float model's parameters and buffers vs the packed model's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import nn

from bnnbench.export.layers import PackedConv
from bnnbench.export.report import model_bytes


def _min_time(fn: Callable[[], object], repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


class _LayerTimer:
    """Forward hooks timing every PackedConv of a model (minimum per layer over the passes)."""

    def __init__(self, model: nn.Module) -> None:
        self.best: dict[str, float] = {}
        self.shapes: dict[str, str] = {}
        self._start: dict[str, float] = {}
        self._handles = []
        for name, m in model.named_modules():
            if isinstance(m, PackedConv):
                self._handles.append(m.register_forward_pre_hook(self._pre(name)))
                self._handles.append(m.register_forward_hook(self._post(name, m)))

    def _pre(self, name: str):
        def hook(module, args):
            self._start[name] = time.perf_counter()
        return hook

    def _post(self, name: str, m: PackedConv):
        def hook(module, args, out):
            dt = time.perf_counter() - self._start.pop(name)
            self.best[name] = min(self.best.get(name, math.inf), dt)
            c = m.conv
            self.shapes[name] = (f"{c.in_channels}->{c.out_channels} k{c.kernel_size[0]}x{c.kernel_size[1]} "
                                 f"s{c.stride} g{c.groups} @{args[0].shape[-2]}x{args[0].shape[-1]}")
        return hook

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


@torch.no_grad()
def bench_export(model: nn.Module, float_model: nn.Module, packed: nn.Module, sample: torch.Tensor,
                 batches: tuple[int, ...] = (1,), repeat: int = 10, rounds: int = 3) -> dict[str, Any]:
    """Latency of `float_model` vs `packed` (both exports of `model`) per batch size and per layer.

    `sample` is one input (1, C, H, W) or (C, H, W); models with a `cost_forward` (detection,
    diffusion) are timed through it, as cost counting runs them."""
    sample = sample if sample.dim() == 4 else sample.unsqueeze(0)
    fwd = {name: getattr(m, "cost_forward", m) for name, m in (("float", float_model), ("packed", packed))}
    result: dict[str, Any] = {"threads": torch.get_num_threads(), "repeat": repeat, "rounds": rounds,
                              "model_bytes_float": model_bytes(model), "model_bytes_packed": model_bytes(packed),
                              "batches": {}}
    for batch in batches:
        x = sample[:1].expand(batch, *sample.shape[1:]).contiguous()
        timers = {"float": _LayerTimer(float_model), "packed": _LayerTimer(packed)}
        best = {"float": math.inf, "packed": math.inf}
        try:
            for _ in range(rounds):
                for name, f in fwd.items():
                    f(x)  # warm-up
                    best[name] = min(best[name], _min_time(partial(f, x), repeat))
        finally:
            for t in timers.values():
                t.remove()
        layers = [{"layer": name, "shape": timers["packed"].shapes.get(name, ""),
                   "float_ms": 1e3 * timers["float"].best.get(name, math.nan),
                   "packed_ms": 1e3 * timers["packed"].best[name]} for name in timers["packed"].best]
        result["batches"][str(batch)] = {
            "float_ms": 1e3 * best["float"], "packed_ms": 1e3 * best["packed"],
            "speedup": best["float"] / best["packed"], "layers": layers,
        }
    return result


def summary_keys(bench: dict[str, Any]) -> dict[str, float]:
    """The flat `latency/...` keys a sweep's results and report read (per batch size)."""
    keys: dict[str, float] = {"latency/threads": float(bench["threads"])}
    for batch, b in bench["batches"].items():
        keys[f"latency/float_ms_b{batch}"] = b["float_ms"]
        keys[f"latency/packed_ms_b{batch}"] = b["packed_ms"]
        keys[f"latency/speedup_b{batch}"] = b["speedup"]
    return keys


def format_bench(bench: dict[str, Any]) -> str:
    """A readable table: whole model per batch, then per layer (batch 1 or the first batch)."""
    lines = [f"latency on {bench['threads']} thread(s), minimum of {bench['rounds']} x {bench['repeat']} runs; "
             f"model bytes float {bench['model_bytes_float']:,} / packed {bench['model_bytes_packed']:,}",
             f"{'batch':>5}  {'float ms':>10}  {'packed ms':>10}  {'speedup':>8}"]
    for batch, b in bench["batches"].items():
        lines.append(f"{batch:>5}  {b['float_ms']:>10.3f}  {b['packed_ms']:>10.3f}  {b['speedup']:>7.2f}x")
    first = next(iter(bench["batches"]))
    lines.append(f"per packed layer (batch {first}):")
    lines.append(f"  {'layer':<40} {'shape':<34} {'float ms':>9} {'packed ms':>9} {'speedup':>8}")
    for row in bench["batches"][first]["layers"]:
        speed = row["float_ms"] / row["packed_ms"] if row["packed_ms"] > 0 else math.nan
        lines.append(f"  {row['layer'][-40:]:<40} {row['shape']:<34} {row['float_ms']:>9.3f} "
                     f"{row['packed_ms']:>9.3f} {speed:>7.2f}x")
    return "\n".join(lines)


__all__ = ["bench_export", "format_bench", "summary_keys"]
