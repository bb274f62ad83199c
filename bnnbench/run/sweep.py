"""A sweep's results: every job found, one readable table, a CSV, the failures named.

At the start of a `--multirun` sweep the `SweepSummary` callback refuses a folder that holds an
earlier sweep (old results would mix into the new table) and writes the sweep's job list
(`jobs.yaml`); at its end it prints the table and writes `results.csv`. `python -m
bnnbench.run.sweep <sweep folder>` does the same for any sweep folder, finished or not, and names
every job of the list: finished, failed (with the reason), incomplete (killed, or still
running) or never started. Either exits non-zero unless every job finished.
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

from bnnbench.core.console import console
from bnnbench.run import naming
from bnnbench.run.folder_lock import alive, holder
from bnnbench.run.outputs import is_part
from bnnbench.run.summary import human

COMPONENTS = ("task", "model", "binarizer", "block")
JOB_LIST = "jobs.yaml"  # the sweep's jobs, written before the first one starts
# set by SweepSummary when a job of the sweep did not finish; the CLI's exit status reads it
FAILED_JOBS: list[str] = []
# what a job that has no summary.json is: failed (error.txt), incomplete, or never started
NOT_FINISHED = ("failed", "incomplete", "running", "not started")


def _job_dirs(sweep_dir: Path) -> list[Path]:
    """Folders of the jobs below `sweep_dir` (any depth; earlier runs moved aside are skipped)."""
    found = {p.parent for pattern in ("summary.json", "error.txt") for p in sweep_dir.rglob(pattern)}
    # a recipe's steps and teachers are parts of jobs (bnnbench.run.recipe), not jobs
    return sorted(d for d in found if not is_part(d)
                  and not any(part.startswith("previous-") for part in d.relative_to(sweep_dir).parts))


def job_list(config: Any) -> list[dict[str, Any]] | None:
    """The jobs Hydra's basic sweeper will run for `config` (params, then command-line overrides),
    each {num, job (its folder), overrides}; None for another sweeper or a custom job folder."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    hydra_cfg = config.hydra
    if hydra_cfg.sweeper.get("_target_") != f"{BasicSweeper.__module__}.{BasicSweeper.__name__}":
        return None
    subdir = OmegaConf.to_container(hydra_cfg.sweep, resolve=False).get("subdir")
    if subdir != "${bnnbench_job:${hydra.overrides.task},${hydra.job.num}}":
        return None
    params = [f"{k}={v}" for k, v in (hydra_cfg.sweeper.get("params") or {}).items()]
    # the config loader expands `glob(*)` over a group's options (a paper table's rows folder)
    loader = GlobalHydra.instance().config_loader() if GlobalHydra.instance().is_initialized() else None
    overrides = OverridesParser.create(config_loader=loader).parse_overrides([*params, *hydra_cfg.overrides.task])
    jobs = [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]
    return [{"num": i, "job": naming.job_name(o, str(i)), "overrides": list(o)} for i, o in enumerate(jobs)]


def earlier_sweep(sweep_dir: Path) -> str | None:
    """What in `sweep_dir` shows an earlier sweep (its job list, config or a job's result), or None."""
    if not sweep_dir.is_dir():
        return None
    for name in (JOB_LIST, "multirun.yaml"):
        if (sweep_dir / name).is_file():
            return name
    results = _job_dirs(sweep_dir)
    return f"{len(results)} job results" if results else None


def _settings(job_dir: Path) -> dict[str, str]:
    overrides = job_dir / ".hydra" / "overrides.yaml"
    if not overrides.is_file():
        return {}
    return naming.settings(yaml.safe_load(overrides.read_text()) or [])


def _reason(error_file: Path) -> str:
    lines = [ln.strip() for ln in error_file.read_text().splitlines() if ln.strip()]
    return lines[-1] if lines else "?"


def _listed(sweep_dir: Path) -> list[dict[str, Any]]:
    """The sweep's job list (`jobs.yaml`), [] when it has none (a sweep of an older version)."""
    path = sweep_dir / JOB_LIST
    return (yaml.safe_load(path.read_text()) or []) if path.is_file() else []


def _unfinished(job_dir: Path) -> tuple[str, str]:
    """(status, reason) of a listed job without summary.json or error.txt."""
    if not job_dir.is_dir():
        return "not started", "the sweep stopped before this job started"
    info = holder(job_dir)
    if info is not None and alive(info):
        return "running", f"process {info.get('pid')} is running it"
    return "incomplete", "started but neither finished nor failed (killed?)"


def collect(sweep_dir: Path) -> list[dict[str, Any]]:
    """One row per job: its name, settings, status, metrics and cost.

    `status` is ok | failed | incomplete | running | not started; the last three only for jobs
    of the sweep's job list that left no result."""
    rows = []
    listed = {sweep_dir / j["job"]: j for j in _listed(sweep_dir)}
    for job_dir in sorted({*_job_dirs(sweep_dir), *listed}, key=lambda d: (listed.get(d, {}).get("num", 1 << 30), d)):
        row: dict[str, Any] = {"job": str(job_dir.relative_to(sweep_dir)) if job_dir != sweep_dir else "."}
        settings = _settings(job_dir) or naming.settings(listed.get(job_dir, {}).get("overrides", []))
        if (job_dir / "summary.json").is_file():
            summary = json.loads((job_dir / "summary.json").read_text())
            row.update(status="ok", **{k: v for k, v in summary.items() if k != "job"})
            if (job_dir / "latency.json").is_file():  # `python -m bnnbench.export ... bench=true`
                row.update(json.loads((job_dir / "latency.json").read_text()))
        else:
            if (job_dir / "error.txt").is_file():
                row.update(status="failed", reason=_reason(job_dir / "error.txt"))
            else:
                status, reason = _unfinished(job_dir)
                row.update(status=status, reason=reason)
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
        # the test metrics and, for jobs tested under corruptions, their mean over the grid
        metrics += [k for k in r if (k.startswith("test/") or k == "robust/mean") and k not in metrics]
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
            "ok" if ok else f"[bold red]{r['status']}[/bold red]",
        )
    return t


def report(sweep_dir: Path) -> list[str]:
    """Print the sweep's table and every job that did not finish, write results.csv; return those jobs."""
    rows = collect(sweep_dir)
    if not rows:
        console.print(f"no jobs under {sweep_dir} (no {JOB_LIST}, summary.json or error.txt)", soft_wrap=True)
        return []
    console.print(table(rows, f"sweep {sweep_dir}"))
    write_csv(rows, sweep_dir / "results.csv")
    console.print(f"results: {sweep_dir / 'results.csv'}", soft_wrap=True)
    unfinished = [r for r in rows if r["status"] != "ok"]
    for r in unfinished:
        see = f" (see {sweep_dir / r['job'] / 'error.txt'})" if r["status"] == "failed" else ""
        console.print(f"[bold red]{r['status']}[/bold red] {r['job']}: {r['reason']}{see}", soft_wrap=True)
    counts = {s: sum(r["status"] == s for r in rows) for s in NOT_FINISHED}
    console.print(f"{len(rows) - len(unfinished)} of {len(rows)} jobs finished, "
                  + ", ".join(f"{n} {s}" for s, n in counts.items() if n or s == "failed"))
    return [r["job"] for r in unfinished]


try:
    from hydra.experimental.callback import Callback
except ImportError:  # the sweep report itself needs no Hydra
    Callback = object  # type: ignore[assignment,misc]


class SweepSummary(Callback):  # type: ignore[misc]
    """Hydra callback: refuses a folder holding an earlier sweep and writes the job list before
    the first job; prints the sweep's table after the last."""

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        found = earlier_sweep(sweep_dir)
        if found is not None:  # its results would mix into this sweep's table
            console.print(f"[bold red]error:[/bold red] hydra.sweep.dir={sweep_dir} holds an earlier sweep ({found}): "
                          "give a new folder (the default is a new dated one) or remove it", soft_wrap=True)
            sys.exit(2)
        jobs = job_list(config)
        if jobs is not None:
            sweep_dir.mkdir(parents=True, exist_ok=True)
            (sweep_dir / JOB_LIST).write_text(yaml.safe_dump(jobs, sort_keys=False))

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if sweep_dir.is_dir():
            FAILED_JOBS.extend(report(sweep_dir))


def main(argv: list[str] | None = None) -> int:
    """`python -m bnnbench.run.sweep <sweep folder>`: the table and CSV of a (partial) sweep."""
    parser = argparse.ArgumentParser(prog="python -m bnnbench.run.sweep", description=main.__doc__)
    parser.add_argument("sweep_dir", type=Path, help="a folder written by `python -m bnnbench --multirun`")
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        console.print(f"error: {args.sweep_dir} is not a folder", soft_wrap=True, highlight=False)
        return 2
    return 1 if report(args.sweep_dir) else 0


if __name__ == "__main__":
    from bnnbench.core.errors import guarded

    sys.exit(guarded(main))  # an error: one line, exit 2 (--debug: the traceback)
