"""A sweep's results: every job found, one readable table, a CSV, the failures named.

At the end of a `--multirun` sweep the `SweepSummary` callback prints the table and writes
`results.csv`; `python -m bnnbench.sweep <sweep folder>` does the same for any sweep folder,
finished or not. Either exits non-zero when a job failed (after every other job ran).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

import yaml
from rich.table import Table

from bnnbench import naming
from bnnbench.summary import console, human

COMPONENTS = ("task", "model", "binarizer", "block")
# set by SweepSummary when a job of the sweep failed; the CLI's exit status reads it
FAILED_JOBS: list[str] = []


def _job_dirs(sweep_dir: Path) -> list[Path]:
    """Folders of the jobs below `sweep_dir` (any depth; earlier runs moved aside are skipped)."""
    found = {p.parent for pattern in ("summary.json", "error.txt") for p in sweep_dir.rglob(pattern)}
    return sorted(d for d in found if not any(part.startswith("previous-") for part in d.relative_to(sweep_dir).parts))


def _settings(job_dir: Path) -> dict[str, str]:
    overrides = job_dir / ".hydra" / "overrides.yaml"
    if not overrides.is_file():
        return {}
    return naming.settings(yaml.safe_load(overrides.read_text()) or [])


def _reason(error_file: Path) -> str:
    lines = [ln.strip() for ln in error_file.read_text().splitlines() if ln.strip()]
    return lines[-1] if lines else "?"


def collect(sweep_dir: Path) -> list[dict[str, Any]]:
    """One row per job: its name, settings, status, metrics and cost (`status` ok | failed)."""
    rows = []
    for job_dir in _job_dirs(sweep_dir):
        row: dict[str, Any] = {"job": str(job_dir.relative_to(sweep_dir)) if job_dir != sweep_dir else "."}
        settings = _settings(job_dir)
        if (job_dir / "summary.json").is_file():
            summary = json.loads((job_dir / "summary.json").read_text())
            row.update(status="ok", **{k: v for k, v in summary.items() if k != "job"})
            if (job_dir / "latency.json").is_file():  # `python -m bnnbench.export ... bench=true`
                row.update(json.loads((job_dir / "latency.json").read_text()))
        else:
            row.update(status="failed", reason=_reason(job_dir / "error.txt"))
            config = job_dir / ".hydra" / "config.yaml"
            if config.is_file():
                cfg = yaml.safe_load(config.read_text())
                row.update({c: (cfg.get(c) or {}).get("name") for c in COMPONENTS}, seed=cfg.get("seed"))
        row["settings"] = settings
        rows.append(row)
    return rows


def varying(rows: list[dict[str, Any]]) -> list[str]:
    """The settings whose values differ between jobs (the sweep's axes), components excluded."""
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r["settings"] if k not in keys and k not in COMPONENTS and k != "seed"]
    return [k for k in keys if len({r["settings"].get(k) for r in rows}) > 1]


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """Write the rows as one CSV (union of their columns; settings flattened)."""
    flat = [{**{k: v for k, v in r.items() if k != "settings"}, **{f"set/{k}": v for k, v in r["settings"].items()}}
            for r in rows]
    columns: list[str] = []
    for r in flat:
        columns += [k for k in r if k not in columns]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(flat)


def table(rows: list[dict[str, Any]], title: str) -> Table:
    """The sweep as a rich table: components, varying settings, seed, metrics, cost, status."""
    axes = varying(rows)
    metrics: list[str] = []
    for r in rows:
        metrics += [k for k in r if k.startswith("test/") and k not in metrics]
    t = Table(title=title)
    for col in [*COMPONENTS, *axes, "seed", *metrics, "Params", "OPs", "time (s)", "status"]:
        t.add_column(col, overflow="fold")
    for r in rows:
        ok = r["status"] == "ok"
        t.add_row(
            *(str(r.get(c) or "-") for c in COMPONENTS),
            *(r["settings"].get(k, "-") for k in axes),
            str(r.get("seed", "-")),
            *(f"{r[k]:.4f}" if isinstance(r.get(k), float) else "-" for k in metrics),
            human(r["cost/params"]) if ok else "-",
            human(r["cost/ops"]) if ok else "-",
            f"{r['wall_time_s']:.0f}" if ok else "-",
            "ok" if ok else "[bold red]failed[/bold red]",
        )
    return t


def report(sweep_dir: Path) -> list[str]:
    """Print the sweep's table and failures, write results.csv; return the failed jobs."""
    rows = collect(sweep_dir)
    if not rows:
        console.print(f"no jobs under {sweep_dir} (no summary.json or error.txt)")
        return []
    console.print(table(rows, f"sweep {sweep_dir}"))
    write_csv(rows, sweep_dir / "results.csv")
    console.print(f"results: {sweep_dir / 'results.csv'}", soft_wrap=True)
    failed = [r for r in rows if r["status"] == "failed"]
    for r in failed:
        console.print(f"[bold red]failed[/bold red] {r['job']}: {r['reason']} (see {sweep_dir / r['job'] / 'error.txt'})",
                      soft_wrap=True)
    ok = len(rows) - len(failed)
    console.print(f"{ok} jobs finished, {len(failed)} failed")
    return [r["job"] for r in failed]


try:
    from hydra.experimental.callback import Callback
except ImportError:  # the sweep report itself needs no Hydra
    Callback = object  # type: ignore[assignment,misc]


class SweepSummary(Callback):  # type: ignore[misc]
    """Hydra callback printing the sweep's table after the last job."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if sweep_dir.is_dir():
            FAILED_JOBS.extend(report(sweep_dir))


def main(argv: list[str] | None = None) -> int:
    """`python -m bnnbench.sweep <sweep folder>`: the table and CSV of a (partial) sweep."""
    parser = argparse.ArgumentParser(prog="python -m bnnbench.sweep", description=main.__doc__)
    parser.add_argument("sweep_dir", type=Path, help="a folder written by `python -m bnnbench --multirun`")
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        console.print(f"error: {args.sweep_dir} is not a folder")
        return 2
    return 1 if report(args.sweep_dir) else 0


if __name__ == "__main__":
    sys.exit(main())
