"""A report's figures as PNG files: metric against OPs (BD-Net Fig. 1's form, ours and the paper's
side by side) and the metric per row with the seed spread as error bars."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no screen
import matplotlib.pyplot as plt  # noqa: E402

from bnnbench.metrics.robustness import by_severity
from bnnbench.report.aggregate import ReportRow  # noqa: E402
from bnnbench.report.paper_tables import PaperTable  # noqa: E402

_UNIT = {"K": 1e3, "M": 1e6, "G": 1e9, "": 1.0}


def _save(fig: plt.Figure, table: PaperTable, path: Path) -> Path:
    """Title the figure with the table's source, write it as PNG and free it."""
    fig.suptitle(f"{table.paper}, {table.source}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def metric_vs_ops(table: PaperTable, rows: list[ReportRow], dataset: str, column: str, path: Path) -> Path:
    """Scatter of `column` against OPs, one point per row: ours (left), the paper's (right)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    scale = _UNIT.get(table.cost_units.get("OPs", ""), 1.0)
    for ax, who in zip(axes, ("ours", dataset)):
        for r in rows:
            if who == "ours":
                x, y = r.cost.get("OPs"), r.ours.get(column, (None,))[0]
            else:
                x = r.paper.get("OPs")
                x = None if x is None else float(x) * scale
                y = r.paper.get(column)
            if x is None or y is None or x <= 0:
                continue
            ax.scatter([x], [y])
            ax.annotate(r.label, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("OPs")
        ax.set_ylabel(column)
        ax.set_title(f"{column} vs OPs ({who})")
        ax.grid(alpha=0.3)
    return _save(fig, table, path)


def metric_per_row(table: PaperTable, rows: list[ReportRow], dataset: str, column: str, path: Path) -> Path:
    """Bars of `column` per row: ours with the seed std as error bars, and the paper's."""
    labels = [r.label for r in rows]
    ours = [r.ours.get(column, (math.nan, math.nan)) for r in rows]
    paper = [r.paper.get(column) for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 0.9 * len(rows) + 4), 4.5), sharey=False)
    xs = range(len(rows))
    axes[0].bar(xs, [m for m, _ in ours], yerr=[0 if math.isnan(s) else s for _, s in ours], capsize=3,
                color="tab:blue")
    axes[0].set_title(f"{column}: ours (mean ± std over seeds)")
    axes[1].bar(xs, [math.nan if p is None else float(p) for p in paper], color="tab:gray")
    axes[1].set_title(f"{column}: {dataset} (paper)")
    for ax in axes:
        ax.set_xticks(list(xs))
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    return _save(fig, table, path)


def metric_vs_severity(table: PaperTable, rows: list[ReportRow], path: Path) -> Path:
    """The metric against the corruption severity, one line per row tested under corruptions:
    severity 0 is the clean test, each other point the mean over the grid's corruptions."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    metric = ""
    for r in rows:
        if r.robust is None:
            continue
        metric = r.robust.metric
        levels = by_severity(r.robust.cells)
        xs, ys = [0, *levels], [r.robust.clean, *levels.values()]
        ax.plot(xs, ys, marker="o", label=r.label)
    ax.set_xlabel("severity (0: clean; else the mean over corruptions)")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} under corruption")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, table, path)


def plot_all(table: PaperTable, rows: list[ReportRow], dataset: str, out_dir: Path) -> list[Path]:
    """Both figures for the table's first metric column (and the metric against severity when
    the jobs were tested under corruptions), written under `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    column = table.columns[0].name
    safe = "".join(ch if ch.isalnum() else "_" for ch in column)
    figures = [metric_vs_ops(table, rows, dataset, column, out_dir / f"{table.name}_{safe}_vs_ops.png"),
               metric_per_row(table, rows, dataset, column, out_dir / f"{table.name}_{safe}_per_row.png")]
    if any(r.robust is not None for r in rows):
        figures.append(metric_vs_severity(table, rows, out_dir / f"{table.name}_vs_severity.png"))
    return figures
