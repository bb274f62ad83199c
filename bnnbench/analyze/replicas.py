"""`replicas`: how alike the replicated feature maps of each ES layer are (ES-BNN Fig. 7).

ES-BNN (Shi et al. 2025) Sec. 4.5: an expanding-and-shrinking conv tiles each map its binary
conv computes tau^2 g times; BN's per-channel affine and the residual then make the copies
differ (Eq. 3, Fig. 3). Fig. 7 reports, per binary layer, the mean absolute Pearson
correlation over all pairs of maps that are copies of the same conv output, measured on the
layer's output features (1 at initialisation, when nothing tells the copies apart).

Here a layer is an `es` block: its output's channel c is a copy of its last
expanding-and-shrinking conv's map c mod P (P = that conv's own output channels), the pairs
are the channels with equal c mod P, and the correlation is taken per sample over (H, W),
then averaged over samples, pairs and maps. Constant maps (no variance) have no correlation
and are left out of the mean.
"""

from __future__ import annotations

from pathlib import Path

import torch
from rich.progress import Progress
from torch import Tensor, nn

from bnnbench.analyze import AnalysisUnavailable
from bnnbench.analyze.context import Options, RunContext, module_names
from bnnbench.analyze.output import figure, save, write_csv
from bnnbench.blocks.es import ExpandShrinkBlock, ExpandShrinkConv

DEFAULT_SPLIT = "val"
EPS = 1e-12


def replica_correlation(features: Tensor, period: int) -> tuple[float, int]:
    """(sum of |corr|, number of pairs) over all pairs of channels equal mod `period` of (N, C, H, W)
    `features`, per sample over (H, W); pairs with a constant map are not counted."""
    n, c = features.shape[:2]
    if c % period:
        raise ValueError(f"{c} channels are not a whole number of copies of {period}")
    copies = c // period
    x = features.detach().double().reshape(n, copies, period, -1)
    x = x - x.mean(-1, keepdim=True)
    norm = x.norm(dim=-1)  # (N, copies, P)
    x = x / norm.clamp_min(EPS)[..., None]
    corr = torch.einsum("nmps,nqps->npmq", x, x)  # (N, P, copies, copies)
    valid = (norm > EPS).permute(0, 2, 1)  # (N, P, copies)
    pair = valid[..., :, None] & valid[..., None, :]
    upper = torch.triu(torch.ones(copies, copies, dtype=torch.bool), 1)
    mask = pair & upper
    return float(corr.abs()[mask].sum()), int(mask.sum())


def es_layers(model: nn.Module) -> list[tuple[str, ExpandShrinkBlock, int]]:
    """(name, es block, P): each es block with its last expanding-and-shrinking conv's own width."""
    convs = module_names(model, ExpandShrinkConv)
    out = []
    for name, block in module_names(model, ExpandShrinkBlock):
        inner = [m for n, m in convs if n.startswith(name + ".")]
        if inner:
            out.append((name, block, inner[-1].conv.out_channels))
    return out


def check(ctx: RunContext) -> None:
    """Raise AnalysisUnavailable when the model has no expanding-and-shrinking layer."""
    if not es_layers(ctx.model):
        raise AnalysisUnavailable("what=replicas needs ES layers: this run's model has none (train with block=es)")


@torch.no_grad()
def layer_correlations(model: nn.Module, batches: list, forward, progress: Progress | None = None) -> list[dict]:
    """Per ES layer: name, copies per map and mean |corr| between copies over `forward(batch)` of all `batches`."""
    layers = es_layers(model)
    sums = {name: [0.0, 0, 0] for name, _, _ in layers}  # |corr| sum, pairs, channels
    handles = []
    for name, block, period in layers:
        def hook(mod: nn.Module, args: tuple, out: Tensor, name: str = name, period: int = period) -> None:
            s, k = replica_correlation(out, period)
            sums[name][0] += s
            sums[name][1] += k
            sums[name][2] = out.shape[1]
        handles.append(block.register_forward_hook(hook))
    task = progress.add_task("replicas", total=len(batches)) if progress is not None else None
    try:
        for batch in batches:
            forward(batch)
            if task is not None:
                progress.advance(task)
    finally:
        for h in handles:
            h.remove()
    return [{"index": i, "layer": name, "maps": period, "copies": sums[name][2] // period if sums[name][2] else 0,
             "pairs": sums[name][1], "mean_abs_corr": sums[name][0] / sums[name][1] if sums[name][1] else float("nan")}
            for i, (name, _, period) in enumerate(layers)]


def run(ctx: RunContext, opts: Options, progress: Progress) -> list[Path]:
    """Write replicas.csv and replicas.png (mean |corr| of replicated maps per ES layer)."""
    split = opts.split or DEFAULT_SPLIT
    rows = layer_correlations(ctx.model, ctx.batches(split, opts.batches), ctx.forward, progress)
    for row in rows:
        row["split"] = split
    fig, ax = figure(size=(max(6.0, 0.3 * len(rows)), 4.0))
    ax.plot([r["index"] + 1 for r in rows], [r["mean_abs_corr"] for r in rows], "o-")
    ax.set(xlabel="ES layer (input to output)", ylabel="mean |correlation| of replicas", ylim=(0, 1.05),
           title=f"Correlation of replicated feature maps ({split} split)")
    return [write_csv(opts.out / "replicas.csv", rows), save(fig, opts.out / "replicas.png")]


__all__ = ["check", "es_layers", "layer_correlations", "replica_correlation", "run"]
