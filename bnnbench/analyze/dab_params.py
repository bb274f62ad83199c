"""`dab_params`: per-block distributions of DAB's learnable k, b and a (BiDense Fig. 6a-c).

BiDense plots, for each ConvNeXt block from shallow to deep, the values of k (threshold's rate
on the input mean), b (threshold's baseline) and a (scale's rate; Eqs. 5, 10) of its three
convolutions in three colours. Here a DAB's *block* is the module holding the model's block
slots (a ConvNeXt block holds dwconv, pwconv1, pwconv2) and its *role* the slot's name within
it, so any model built from blocks gets the same figure; a slot in a list of slots (ConvNeXt's
downsampling layers) is a block of its own, its role the list's name. Blocks are ordered as the
model registers its modules (ConvNeXt: the downsampling layers before the stages). Parameters a DAB does not have
(the threshold/scale ablations) are left out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.progress import Progress
from torch import nn

from bnnbench.analyze import AnalysisUnavailable
from bnnbench.analyze.context import Options, RunContext, module_names
from bnnbench.analyze.output import figure, save, write_csv
from bnnbench.binarizers.dab import DAB
from bnnbench.blocks.base import Block

PARAMS = ("k", "b", "a")
BINS = 30


def check(ctx: RunContext) -> None:
    """Raise AnalysisUnavailable when the model has no DAB binarizer."""
    if not module_names(ctx.model, DAB):
        raise AnalysisUnavailable("what=dab_params needs DAB binarizers: this run's model has none (train with binarizer=dab)")


def _slot(name: str, blocks: set[str]) -> str | None:
    """The outermost block module containing module `name` (None outside every block)."""
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        if prefix in blocks:
            return prefix
    return None


def dab_parameters(model: nn.Module) -> list[dict]:
    """Per DAB: its name, block, role in the block and the values of each of k, b, a it has."""
    blocks = {n for n, _ in module_names(model, Block)}
    out, order = [], {}
    for name, dab in module_names(model, DAB):
        slot = _slot(name, blocks) or name
        block, _, role = slot.rpartition(".")
        if role.isdigit():  # a slot in a list of slots (downsampling layers): a block of its own
            block, role = slot, next((p for p in reversed(block.split(".")) if not p.isdigit()), role)
        order.setdefault(block, len(order))
        values = {p: getattr(dab, p).detach().double().cpu().reshape(-1).numpy() for p in PARAMS if hasattr(dab, p)}
        out.append({"module": name, "block": block, "block_index": order[block], "role": role, "values": values})
    return out


def summaries(found: list[dict]) -> list[dict]:
    """One row per (DAB, parameter): count, mean, std and quantiles of its values."""
    rows = []
    for d in found:
        for p, v in d["values"].items():
            q = np.quantile(v, [0.0, 0.25, 0.5, 0.75, 1.0])
            rows.append({"block": d["block"], "block_index": d["block_index"], "role": d["role"], "module": d["module"],
                         "param": p, "count": v.size, "mean": float(v.mean()), "std": float(v.std()),
                         "min": q[0], "q25": q[1], "median": q[2], "q75": q[3], "max": q[4]})
    return rows


def histograms(found: list[dict], bins: int = BINS) -> list[dict]:
    """One row per (DAB, parameter, bin): counts over bins shared by all DABs of that parameter."""
    rows = []
    for p in PARAMS:
        all_v = [d["values"][p] for d in found if p in d["values"]]
        if not all_v:
            continue
        lo, hi = float(min(v.min() for v in all_v)), float(max(v.max() for v in all_v))
        edges = np.linspace(lo, hi if hi > lo else lo + 1e-12, bins + 1)
        for d in found:
            if p in d["values"]:
                counts, _ = np.histogram(d["values"][p], edges)
                rows += [{"module": d["module"], "block": d["block"], "role": d["role"], "param": p,
                          "bin_low": edges[i], "bin_high": edges[i + 1], "count": int(c)} for i, c in enumerate(counts)]
    return rows


def plot(found: list[dict], path: Path) -> Path:
    """Box plots of k, b, a per block (x) with one colour per role in the block, as BiDense Fig. 6a-c."""
    from matplotlib import colormaps
    from matplotlib.ticker import MaxNLocator

    present = [p for p in PARAMS if any(p in d["values"] for d in found)]
    roles = list(dict.fromkeys(d["role"] for d in found))
    cmap = colormaps["tab10" if len(roles) <= 10 else "tab20"]
    colours = {role: cmap(i % cmap.N) for i, role in enumerate(roles)}
    n_blocks = max(d["block_index"] for d in found) + 1
    per_block = [[d["module"] for d in found if d["block_index"] == b] for b in range(n_blocks)]
    width = 0.8 / max(len(m) for m in per_block)
    # each block's DABs side by side, centred on the block
    x = {m: b + width * (i - (len(ms) - 1) / 2) for b, ms in enumerate(per_block) for i, m in enumerate(ms)}
    fig, axes = figure(len(present), 1, size=(max(7.0, 0.5 * n_blocks), 2.4 * len(present) + 0.6), grid=True)
    for ax, p in zip(axes[:, 0], present):
        ds = [d for d in found if p in d["values"]]
        box = ax.boxplot([d["values"][p] for d in ds], positions=[x[d["module"]] for d in ds],
                         widths=width * 0.9, patch_artist=True, showfliers=False, manage_ticks=False)
        for patch, d in zip(box["boxes"], ds):
            patch.set_facecolor(colours[d["role"]])
        ax.set(ylabel=p)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles = [axes[0, 0].plot([], [], "s", color=c)[0] for c in colours.values()]
    fig.legend(handles, roles, loc="outside lower center", ncol=min(len(roles), 6), fontsize="small")
    axes[-1, 0].set(xlabel="block (in the order the model registers them)")
    axes[0, 0].set(title="DAB parameters per block")
    return save(fig, path)


def run(ctx: RunContext, opts: Options, progress: Progress) -> list[Path]:
    """Write dab_params.csv (summaries), dab_params_hist.csv (histograms) and dab_params.png."""
    task = progress.add_task("dab_params", total=1)
    found = dab_parameters(ctx.model)
    files = [write_csv(opts.out / "dab_params.csv", summaries(found)),
             write_csv(opts.out / "dab_params_hist.csv", histograms(found)),
             plot(found, opts.out / "dab_params.png")]
    progress.advance(task)
    return files


__all__ = ["PARAMS", "check", "dab_parameters", "histograms", "plot", "run", "summaries"]
