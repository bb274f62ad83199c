"""`landscape`: 1-D and 2-D loss landscapes along filter-normalised random directions.

Li et al. 2018 ("Visualizing the Loss Landscape of Neural Nets", Sec. 4): a direction d is
Gaussian with each filter d_i (slice along the output dimension) rescaled to the norm of the
weights' filter, d_i <- d_i ||w_i|| / ||d_i||, and 1-D parameters (biases, BN) not moved (the
authors' `ignore=biasbn`, github.com/tomgoldstein/loss-landscape; a binarizer's (1, C, 1, 1)
parameters are one filter). The landscape is
L(w + alpha d1) and L(w + alpha d1 + beta d2) over alpha, beta in [-span, span]; the grid
has an odd number of points so its centre is the trained weights themselves: the centre's
value is the loss of the checkpoint (BD-Net Figs. 2, 6; ES-BNN Fig. 6 plot such surfaces).
The model runs in eval mode on a fixed set of batches; the weights are restored afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from rich.progress import Progress
from torch import Tensor

from bnnbench.analyze.context import Options, RunContext, check_loss, mean_loss
from bnnbench.analyze.output import figure, save, write_csv

DEFAULT_SPLIT = "train"


def filter_normalized_direction(params: Sequence[Tensor], generator: torch.Generator) -> list[Tensor]:
    """A random direction with each filter's norm equal to the weights' filter norm; 1-D params 0."""
    out = []
    for p in params:
        d = torch.randn(p.shape, generator=generator, dtype=torch.float64).to(p)
        if p.dim() <= 1:
            d.zero_()
        else:
            w_norm = p.detach().flatten(1).norm(dim=1)
            d_norm = d.flatten(1).norm(dim=1).clamp_min(1e-12)
            d.mul_((w_norm / d_norm).view(-1, *[1] * (p.dim() - 1)))
        out.append(d)
    return out


def coordinates(resolution: int, span: float) -> np.ndarray:
    """`resolution` (odd) points from -span to span whose middle one is exactly 0."""
    if resolution < 3 or resolution % 2 == 0:
        raise ValueError(f"resolution must be an odd number >= 3 (its middle point is the checkpoint), got {resolution}")
    half = (resolution - 1) // 2
    return span * np.arange(-half, half + 1) / half


@torch.no_grad()
def surface(
    loss: Callable[[], float],
    params: Sequence[Tensor],
    directions: Sequence[Sequence[Tensor]],
    coords: Sequence[np.ndarray],
    on_point: Callable[[], None] | None = None,
) -> np.ndarray:
    """loss() at w + sum_i c_i d_i for every point of the grid `coords` (one axis per direction).

    The parameters are set in place and restored exactly (from a copy) afterwards.
    """
    saved = [p.detach().clone() for p in params]
    grid = np.meshgrid(*coords, indexing="ij")
    values = np.empty(grid[0].shape)
    try:
        for idx in np.ndindex(values.shape):
            for p, w, *ds in zip(params, saved, *directions):
                step = w.clone()
                for c, d in zip((g[idx] for g in grid), ds):
                    if c != 0.0:
                        step.add_(d, alpha=float(c))
                p.copy_(step)
            values[idx] = loss()
            if on_point is not None:
                on_point()
    finally:
        for p, w in zip(params, saved):
            p.copy_(w)
    return values


def check(ctx: RunContext) -> None:
    """Raise AnalysisUnavailable when the run's task has no loss in eval mode."""
    check_loss(ctx.task, "landscape")


def run(ctx: RunContext, opts: Options, progress: Progress) -> list[Path]:
    """Write landscape_1d.csv/png (along d1) and landscape_2d.csv/png (contours over d1, d2)."""
    split = opts.split or DEFAULT_SPLIT
    batches = ctx.batches(split, opts.batches)
    params = [p for p in ctx.model.parameters() if p.requires_grad]
    gen = torch.Generator().manual_seed(opts.seed)
    d1, d2 = filter_normalized_direction(params, gen), filter_normalized_direction(params, gen)
    xs = coordinates(opts.resolution, opts.span)
    n = len(xs)
    task = progress.add_task("landscape", total=n + n * n)

    def loss() -> float:
        return mean_loss(ctx.loss, batches)

    line = surface(loss, params, [d1], [xs], lambda: progress.advance(task))
    plane = surface(loss, params, [d1, d2], [xs, xs], lambda: progress.advance(task))
    rows1 = [{"alpha": float(a), "loss": float(v)} for a, v in zip(xs, line)]
    rows2 = [{"alpha": float(xs[i]), "beta": float(xs[j]), "loss": float(plane[i, j])} for i, j in np.ndindex(plane.shape)]

    fig1, ax = figure()
    ax.plot(xs, line, "o-")
    ax.axvline(0.0, color="grey", lw=0.5)
    ax.set(xlabel="alpha (filter-normalised direction)", ylabel=f"loss ({split})", title="1-D loss landscape")
    fig2, ax2 = figure(size=(5.5, 4.5))
    cs = ax2.contour(xs, xs, plane.T, levels=20, cmap="viridis")
    ax2.clabel(cs, fontsize=6)
    ax2.plot([0], [0], "k+")
    ax2.set(xlabel="alpha (d1)", ylabel="beta (d2)", title=f"2-D loss landscape ({split} loss)")
    return [write_csv(opts.out / "landscape_1d.csv", rows1), save(fig1, opts.out / "landscape_1d.png"),
            write_csv(opts.out / "landscape_2d.csv", rows2), save(fig2, opts.out / "landscape_2d.png")]


__all__ = ["check", "coordinates", "filter_normalized_direction", "run", "surface"]
