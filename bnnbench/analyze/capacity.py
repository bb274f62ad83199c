"""`capacity`: representation capacity of each binary layer, with and without ES (ES-BNN Fig. 4).

ES-BNN (Shi et al. 2025) Sec. 3.1, after Eq. 1: an output of a binary conv is a sum of
n = c_i k^2 products of +-1 activations and +-1 weights, so it lies in [-n, n] in steps of 2:
n + 1 possible values, the layer's *representation capacity* (per-channel scales multiply
those values and add none; border pixels with zero padding sum fewer terms). Sec. 3.2: the
expanding-and-shrinking operation reads c_i tau input channels (a group of its binary group
conv reads c_i tau as well), so a regular conv's capacity becomes c_i tau k^2 + 1; grouped and
depth-wise convs are not shrunk and keep theirs.

Per binary conv the CSV gives its fan-in n (input channels per group times kernel area) and
capacity as built, the capacity of the same layer without ES, and with ES (this model's tau,
or the option `tau` for a model built without ES, where the regular convs are counted as if
expanded).
"""

from __future__ import annotations

from pathlib import Path

from rich.progress import Progress
from torch import nn

from bnnbench.analyze import AnalysisUnavailable
from bnnbench.analyze.context import Options, RunContext, module_names
from bnnbench.analyze.output import figure, save, write_csv
from bnnbench.blocks.conv import BinaryConv2d
from bnnbench.blocks.es import DEFAULT_TAU, ExpandShrinkBlock, ExpandShrinkConv


def fan_in(conv: nn.Conv2d) -> int:
    """Terms summed per output value: input channels per group times the kernel's area."""
    kh, kw = conv.kernel_size
    return conv.in_channels // conv.groups * kh * kw


def capacity(n: int) -> int:
    """Distinct values of a sum of n products of +-1 terms: -n, -n+2, ..., n (ES-BNN Sec. 3.1)."""
    return n + 1


def binary_convs(model: nn.Module) -> list[tuple[str, BinaryConv2d]]:
    """The convs that run on bits (binary activations and weights)."""
    return [(n, m) for n, m in module_names(model, BinaryConv2d) if m.binary]


def check(ctx: RunContext) -> None:
    """Raise AnalysisUnavailable when the model has no binary conv."""
    if not binary_convs(ctx.model):
        raise AnalysisUnavailable("what=capacity needs binary convs: this run's model has none (binarizer=fp?)")


def layer_capacities(model: nn.Module, tau: int | None = None) -> list[dict]:
    """Per binary conv: fan-in, capacity as built, without ES and with ES (see the module doc)."""
    shrunk = {n + ".conv" for n, _ in module_names(model, ExpandShrinkConv)}
    es_tau = {n: m.tau for n, m in module_names(model, ExpandShrinkBlock)}
    rows = []
    for i, (name, conv) in enumerate(binary_convs(model)):
        n = fan_in(conv)
        owner = max((b for b in es_tau if name.startswith(b + ".")), key=len, default=None)
        t = es_tau[owner] if owner is not None else (tau or DEFAULT_TAU)
        kind = "regular" if conv.groups == 1 else "depthwise" if conv.groups == conv.in_channels else "grouped"
        if name in shrunk:  # reads c_i tau channels per group: without ES it read c_i
            without, with_es = n // t, n
            kind = "regular"
        elif owner is not None or kind != "regular":  # not shrunk by ES: unchanged
            without, with_es = n, n
        else:
            without, with_es = n, n * t
        rows.append({"index": i, "layer": name, "kind": kind, "fan_in": n, "capacity": capacity(n),
                     "capacity_without_es": capacity(without), "capacity_with_es": capacity(with_es), "tau": t,
                     "es": owner is not None})
    return rows


def run(ctx: RunContext, opts: Options, progress: Progress) -> list[Path]:
    """Write capacity.csv and capacity.png (capacity per binary layer, without vs with ES; log scale)."""
    task = progress.add_task("capacity", total=1)
    rows = layer_capacities(ctx.model, opts.tau)
    fig, ax = figure(size=(max(6.0, 0.3 * len(rows)), 4.0))
    x = [r["index"] for r in rows]
    tau = sorted({r["tau"] for r in rows})
    ax.bar([i - 0.2 for i in x], [r["capacity_without_es"] for r in rows], 0.4, label="without ES")
    ax.bar([i + 0.2 for i in x], [r["capacity_with_es"] for r in rows], 0.4, label=f"with ES (tau={','.join(map(str, tau))})")
    ax.set(yscale="log", xlabel="binary layer (input to output)", ylabel="representation capacity (values)",
           title="Representation capacity per binary layer")
    ax.legend()
    files = [write_csv(opts.out / "capacity.csv", rows), save(fig, opts.out / "capacity.png")]
    progress.advance(task)
    return files


__all__ = ["binary_convs", "capacity", "check", "fan_in", "layer_capacities", "run"]
