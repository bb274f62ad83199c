"""`replicas`: how alike the replicated feature maps of each ES layer are (ES-BNN Fig. 7).

ES-BNN (Shi et al. 2025) Sec. 4.5: an expanding-and-shrinking conv tiles each map its binary
conv computes tau^2 g times; BN's per-channel affine and the residual then make the copies
differ (Eq. 3, Fig. 3). Fig. 7 reports, per binary layer, the mean absolute Pearson
correlation over all pairs of maps that are copies of the same conv output, measured on the
layer's output features (1 at initialisation, when nothing tells the copies apart).

Here a layer is an `es` block: its output's channel c is a copy of its last
expanding-and-shrinking conv's map c mod P (P = that conv's own output channels), the pairs
are the channels with equal c mod P, and each pair's correlation is taken over every sample
and position of the split read (so 1x1 maps of deep layers count too), then |corr| averaged
over pairs and maps. A map without variance has no correlation and is left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from rich.progress import Progress
from torch import Tensor, nn

from bnnbench.analyze import AnalysisUnavailable
from bnnbench.analyze.context import Options, RunContext, forward_hooked, module_names
from bnnbench.analyze.output import figure, save, write_csv
from bnnbench.blocks.es import ExpandShrinkBlock, ExpandShrinkConv

DEFAULT_SPLIT = "val"
EPS = 1e-10


class ReplicaStats:
    """Running sums for the Pearson correlation of every pair of copies of a map, over all the
    (N, C, H, W) features given (C = copies * `period`, channel c a copy of map c mod period)."""

    def __init__(self, period: int) -> None:
        self.period = period
        self.n = 0
        self.sums: Tensor | None = None  # (P, copies)
        self.gram: Tensor | None = None  # (P, copies, copies): sums of products

    def add(self, features: Tensor) -> None:
        """Add a batch of features to the sums."""
        n, c = features.shape[:2]
        if c % self.period:
            raise ValueError(f"{c} channels are not a whole number of copies of {self.period}")
        # (P, copies, N*H*W) in float64: sums over many pixels
        x = features.detach().double().reshape(n, c // self.period, self.period, -1).permute(2, 1, 0, 3).flatten(2)
        sums, gram = x.sum(-1).cpu(), torch.einsum("pms,pqs->pmq", x, x).cpu()
        self.sums = sums if self.sums is None else self.sums + sums
        self.gram = gram if self.gram is None else self.gram + gram
        self.n += x.shape[-1]

    @property
    def copies(self) -> int:
        """Copies of each map (0 before any features were added)."""
        return 0 if self.sums is None else self.sums.shape[1]

    def correlations(self) -> tuple[Tensor, Tensor]:
        """(|corr| of each pair of copies of each map, whether it is defined), both (P, copies, copies), upper pairs only."""
        assert self.sums is not None and self.gram is not None, "no features were added"
        mean = self.sums / self.n
        cov = self.gram / self.n - mean[:, :, None] * mean[:, None, :]
        var = torch.diagonal(cov, dim1=1, dim2=2).clamp_min(0)
        scale = var.sqrt()
        # a map is constant when its variance is at rounding level of its mean square
        valid = var > EPS * (1 + torch.diagonal(self.gram, dim1=1, dim2=2) / self.n)
        corr = cov / (scale[:, :, None] * scale[:, None, :]).clamp_min(EPS)
        upper = torch.triu(torch.ones(self.copies, self.copies, dtype=torch.bool), 1)
        return corr.abs().clamp_max(1.0), valid[:, :, None] & valid[:, None, :] & upper

    def mean_abs_corr(self) -> tuple[float, int]:
        """(mean |corr| over all defined pairs, their number); nan when none is defined."""
        corr, mask = self.correlations()
        pairs = int(mask.sum())
        return (float(corr[mask].mean()) if pairs else float("nan")), pairs


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
def layer_correlations(
    model: nn.Module, batches: Iterable, forward: Callable[[Any], Any], progress: Progress | None = None,
    total: int | None = None,
) -> list[dict]:
    """Per ES layer: name, maps, copies per map, pairs and mean |corr| between copies over `forward(batch)` of all `batches`."""
    layers = es_layers(model)
    stats = {name: ReplicaStats(period) for name, _, period in layers}
    handles = [block.register_forward_hook(lambda mod, args, out, s=stats[name]: s.add(out)) for name, block, _ in layers]
    forward_hooked(batches, forward, handles, "replicas", progress, total)
    rows = []
    for i, (name, _, period) in enumerate(layers):
        mean, pairs = stats[name].mean_abs_corr()
        rows.append({"index": i, "layer": name, "maps": period, "copies": stats[name].copies, "pairs": pairs,
                     "mean_abs_corr": mean})
    return rows


def run(ctx: RunContext, opts: Options, progress: Progress) -> list[Path]:
    """Write replicas.csv and replicas.png (mean |corr| of replicated maps per ES layer)."""
    split = opts.split or DEFAULT_SPLIT
    total, batches = ctx.stream(split, opts.batches)
    rows = layer_correlations(ctx.model, batches, ctx.forward, progress, total)
    for row in rows:
        row["split"] = split
    fig, ax = figure(size=(max(6.0, 0.3 * len(rows)), 4.0))
    ax.plot([r["index"] + 1 for r in rows], [r["mean_abs_corr"] for r in rows], "o-")
    ax.set(xlabel="ES layer (input to output)", ylabel="mean |correlation| of replicas", ylim=(0, 1.05),
           title=f"Correlation of replicated feature maps ({split} split)")
    return [write_csv(opts.out / "replicas.csv", rows), save(fig, opts.out / "replicas.png")]


__all__ = ["ReplicaStats", "check", "es_layers", "layer_correlations", "run"]
