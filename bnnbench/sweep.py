"""At the end of a --multirun sweep: one table of every job, failures named, and results.csv."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from rich.table import Table

from bnnbench.summary import console


def collect(sweep_dir: Path) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Summaries of the finished jobs under `sweep_dir`, and (job, last error line) of failed ones."""
    done, failed = [], []
    for job in sorted(p for p in sweep_dir.iterdir() if p.is_dir()):
        if (job / "summary.json").is_file():
            done.append(json.loads((job / "summary.json").read_text()))
        elif (job / "error.txt").is_file():
            lines = [ln for ln in (job / "error.txt").read_text().splitlines() if ln.strip()]
            failed.append((job.name, lines[-1] if lines else "?"))
    return done, failed


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """Write the job summaries as one CSV (union of their columns)."""
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


class SweepSummary(Callback):
    """Hydra callback printing the sweep's table after the last job."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        done, failed = collect(sweep_dir)
        if done:
            write_csv(done, sweep_dir / "results.csv")
            metric_keys = [k for k in done[0] if k.startswith("test/")]
            table = Table(title=f"sweep {sweep_dir}")
            for col in ["job", *metric_keys, "Params", "OPs", "time (s)"]:
                table.add_column(col)
            for r in done:
                table.add_row(
                    r["job"] or "(defaults)",
                    *(f"{r.get(k, float('nan')):.4f}" for k in metric_keys),
                    f"{r['cost/params'] / 1e6:.3f}M",
                    f"{r['cost/ops'] / 1e9:.4f}G",
                    f"{r['wall_time_s']:.0f}",
                )
            console.print(table)
            console.print(f"results: {sweep_dir / 'results.csv'}")
        for job, err in failed:
            console.print(f"[bold red]failed[/bold red] {job}: {err} (see {sweep_dir / job / 'error.txt'})")
