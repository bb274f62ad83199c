"""A test under a grid of corruptions: one Lightning test per (corruption, severity) cell.

`data.corruption` / `data.severity` (`bnnbench.data.corruption`) name the cells; after the
clean test of a run (mode=train's best checkpoint, mode=test's checkpoint) each cell tests the
same weights on the test split with its input images corrupted, and the task's metric (its
monitor, read on the test split) of every cell goes into the summary as
`robust/<corruption>/<severity>`, with `robust/mean` over the grid (`bnnbench.metrics.robustness`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from rich.table import Table

from bnnbench.core.console import console
from bnnbench.data.corruption import Corruption
from bnnbench.metrics.robustness import CELL_PREFIX, cells, grid_mean


def test_metric(monitor: str) -> str:
    """The test split's name of the task's monitored metric (val/top1 -> test/top1)."""
    return "test/" + monitor.split("/", 1)[-1]


def run_grid(test: Callable[[], list[dict[str, Any]]], dm: Any, cells: Sequence[Corruption], metric: str,
             higher_is_better: bool) -> dict[str, Any]:
    """Run `test()` (a Lightning test of the run's weights) once per cell with the data module's
    test split corrupted; the summary keys of the grid. A line per cell shows the progress."""
    values: dict[tuple[str, int], float] = {}
    start = time.perf_counter()
    try:
        for i, cell in enumerate(cells, 1):
            dm.corruption = cell
            tested = test()
            row = tested[0] if tested else {}
            if metric not in row:
                raise KeyError(f"the test reports no {metric} (it reports {', '.join(row) or 'nothing'})")
            values[(cell.name, cell.severity)] = value = float(row[metric])
            console.print(f"robustness {i}/{len(cells)}: {cell.label}: {metric} {value:.4f} "
                          f"({time.perf_counter() - start:.0f} s)", highlight=False, soft_wrap=True)
    finally:
        dm.corruption = None  # later tests of this data module are clean
    return {f"{CELL_PREFIX}metric": metric, f"{CELL_PREFIX}higher_is_better": higher_is_better,
            f"{CELL_PREFIX}mean": grid_mean(values),
            **{f"{CELL_PREFIX}{name}/{severity}": v for (name, severity), v in values.items()}}


def print_grid(result: dict[str, Any], clean: float | None) -> None:
    """The grid as a table: one line per corruption, one column per severity, and its mean."""
    grid = cells(result)
    severities = sorted({s for _, s in grid})
    metric = result[f"{CELL_PREFIX}metric"]
    title = f"{metric} under corruption (clean {clean:.4f})" if clean is not None else f"{metric} under corruption"
    table = Table(title=title)
    for col in ("corruption", *(f"severity {s}" for s in severities), "mean"):
        table.add_column(col, justify="left" if col == "corruption" else "right")
    for name in dict.fromkeys(c for c, _ in grid):
        table.add_row(name, *(f"{grid[(name, s)]:.4f}" if (name, s) in grid else "-" for s in severities),
                      f"{grid_mean({k: v for k, v in grid.items() if k[0] == name}):.4f}")
    table.add_row("mean", *("" for _ in severities), f"{result[f'{CELL_PREFIX}mean']:.4f}")
    console.print(table)


__all__ = ["print_grid", "run_grid", "test_metric"]
