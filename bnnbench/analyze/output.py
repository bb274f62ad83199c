"""CSV and PNG writers shared by the analyses (matplotlib's object API: Agg, no pyplot state)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write `rows` (dicts with the same keys) as a CSV with a header; returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)
    return path


def figure(rows: int = 1, cols: int = 1, size: tuple[float, float] = (7.0, 4.0), grid: bool = False) -> tuple[Figure, Any]:
    """A figure rendered by Agg (no display needed) and its axes: one Axes, or a (rows, cols) array with `grid`."""
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=not grid)


def save(fig: Figure, path: Path) -> Path:
    """Save `fig` as a PNG at `path`; returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


__all__ = ["figure", "save", "write_csv"]
