"""Jobs of a sweep grouped into a paper table's rows: mean and std over seeds beside the paper's numbers."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bnnbench.metrics.robustness import cells, mce
from bnnbench.report.convergence import job_slope
from bnnbench.report.paper_tables import FORMER_ROW_GROUPS, PaperTable, Row
from bnnbench.run.sweep import COMPONENTS, collect


@dataclass
class Robustness:
    """A row under corruptions: the task's metric per (corruption, severity) and clean, as means
    over its seeds; the grid's mean (with its std over seeds) and mCE against the reference row."""

    metric: str
    higher_is_better: bool
    clean: float
    per_seed: list[dict[tuple[str, int], float]]  # each job's metric per (corruption, severity)
    mean: tuple[float, float]
    mce: tuple[float, float] | None = None  # % of the table's reference row: mean, std over seeds (None: no reference)

    @property
    def cells(self) -> dict[tuple[str, int], float]:
        """The metric per cell every seed has, as the mean over the seeds."""
        shared = set.intersection(*(set(g) for g in self.per_seed))
        return {k: statistics.fmean(g[k] for g in self.per_seed) for k in sorted(shared)}


@dataclass
class ReportRow:
    """One line of the report: ours over seeds, the paper's number, their difference."""

    label: str
    # ok | partial (some jobs failed) | failed | missing (no job) | extra (no paper row) |
    # not built (a paper row with no `match`: a method this framework does not build)
    status: str
    seeds: list[int] = field(default_factory=list)
    ours: dict[str, tuple[float, float]] = field(default_factory=dict)  # column -> (mean, std; nan for one seed)
    cost: dict[str, float] = field(default_factory=dict)  # Params / OPs, ours (counts)
    paper: dict[str, float | None] = field(default_factory=dict)  # column or Params / OPs -> paper's number
    failed: int = 0
    robust: Robustness | None = None  # the row's jobs tested under corruptions (mode=test data.corruption=...)
    loss_slope: float | None = None  # the training loss's remaining slope (report.convergence), mean over seeds

    def diff(self, column: str) -> float | None:
        """ours - paper in the paper's unit (None when either is missing)."""
        if column not in self.ours or self.paper.get(column) is None:
            return None
        return self.ours[column][0] - float(self.paper[column])


def _data_name(sweep_dir: Path, job: str) -> str | None:
    config = sweep_dir / job / ".hydra" / "config.yaml"
    if not config.is_file():
        return None
    return ((yaml.safe_load(config.read_text()) or {}).get("data") or {}).get("name")


def job_keys(job: dict[str, Any], data: str | None) -> dict[str, str]:
    """What a row's `match` may name: the job's settings, its components and its data set."""
    keys = {c: str(job[c]) for c in COMPONENTS if job.get(c) is not None}
    if data is not None:
        keys["data"] = data
    keys.update({FORMER_ROW_GROUPS.get(k, k): str(v) for k, v in job.get("settings", {}).items()})
    return keys


def matches(row: Row, keys: dict[str, str]) -> bool:
    """Whether a job with `keys` belongs to `row` (every key of its `match` equal)."""
    return bool(row.match) and all(keys.get(k) == v for k, v in row.match.items())


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample std (nan std for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else math.nan


def choose_dataset(table: PaperTable, data_names: set[str], requested: str | None = None) -> str:
    """The paper data set whose numbers go beside ours: `requested`, else the one the sweep ran
    on (a data set named like one of the table's), else the table's first."""
    if requested is not None:
        if requested not in table.datasets:
            raise ValueError(f"--paper-data {requested!r} is not in table {table.name}: valid choices are {', '.join(table.datasets)}")
        return requested
    for d in table.datasets:
        if d.lower() in {n.lower() for n in data_names if n}:
            return d
    return table.datasets[0]


def _summarise(label: str, jobs: list[dict[str, Any]], table: PaperTable, paper: dict[str, float | None]) -> ReportRow:
    ok = [j for j in jobs if j["status"] == "ok"]
    failed = len(jobs) - len(ok)
    status = "missing" if not jobs else "failed" if not ok else "partial" if failed else "ok"
    row = ReportRow(label=label, status=status, failed=failed, paper=paper,
                    seeds=sorted(int(j.get("seed", 0)) for j in ok))
    for col in table.columns:
        values = [float(j[col.ours]) * col.scale for j in ok if isinstance(j.get(col.ours), (int, float))]
        if values:
            row.ours[col.name] = mean_std(values)
    # measured by `python -m bnnbench.export ... bench=true` (latency.json beside the job's summary)
    for name, key in (("Params", "cost/params"), ("OPs", "cost/ops"), ("Latency", "latency/packed_ms_b1"),
                      ("Speedup", "latency/speedup_b1")):
        values = [float(j[key]) for j in ok if isinstance(j.get(key), (int, float))]
        if values:
            row.cost[name] = statistics.fmean(values)
    row.robust = _robustness(ok)
    slopes = [j["loss_slope"] for j in ok if isinstance(j.get("loss_slope"), float)]
    row.loss_slope = statistics.fmean(slopes) if slopes else None
    return row


def _robustness(jobs: list[dict[str, Any]]) -> Robustness | None:
    """The jobs' robustness grids averaged over seeds (cells every job has), or None."""
    tested = [j for j in jobs if isinstance(j.get("robust/mean"), (int, float)) and j.get("robust/metric")]
    if not tested:
        return None
    metric = str(tested[0]["robust/metric"])
    clean = [float(j[metric]) for j in tested if isinstance(j.get(metric), (int, float))]
    return Robustness(metric=metric, higher_is_better=bool(tested[0].get("robust/higher_is_better", True)),
                      clean=statistics.fmean(clean) if clean else math.nan,
                      per_seed=[cells(j) for j in tested if j["robust/metric"] == metric],
                      mean=mean_std([float(j["robust/mean"]) for j in tested]))


def relate_robustness(rows: list[ReportRow], reference: str | None) -> None:
    """Each row's mCE against the row labelled `reference` (the table's `robustness_reference`):
    each seed's grid against the reference's seed-mean grid, then mean and std over the seeds."""
    ref = next((r.robust for r in rows if r.label == reference and r.robust is not None), None)
    if ref is None:
        return
    reference_cells = ref.cells
    for r in rows:
        if r.robust is not None and r.robust.metric == ref.metric:
            values = [mce(g, reference_cells, ref.metric, ref.higher_is_better) for g in r.robust.per_seed]
            values = [v for v in values if v is not None]
            r.robust.mce = mean_std(values) if values else None


def check_threads(label: str, jobs: list[dict[str, Any]]) -> None:
    """Refuse a row whose seeds ran at different torch thread counts: a seeded run is
    deterministic per seed AND thread count (the count changes floating-point sums), so such a
    mean mixes two kinds of spread."""
    counts = sorted({int(j["torch_threads"]) for j in jobs if isinstance(j.get("torch_threads"), int)})
    if len(counts) > 1:
        per = ", ".join(f"{j['job']}: {j['torch_threads']}" for j in jobs if "torch_threads" in j)
        raise ValueError(f"row {label!r} mixes torch thread counts {counts} ({per}): a seeded run reproduces only at "
                         f"its own thread count; rerun the row at one thread count (threads=N), or pass --mixed-threads")


def build_rows(sweep_dir: Path, table: PaperTable, paper_data: str | None = None,
               mixed_threads: bool = False) -> tuple[list[ReportRow], str]:
    """The report's rows in the paper's order (then jobs no row claims), and the paper data set
    beside ours; a row whose seeds ran at different thread counts is refused unless `mixed_threads`."""
    jobs = collect(sweep_dir)
    for j in jobs:
        j["loss_slope"] = job_slope(sweep_dir / j["job"]) if j["status"] == "ok" else None
    data = {j["job"]: _data_name(sweep_dir, j["job"]) for j in jobs}
    dataset = choose_dataset(table, set(data.values()), paper_data)
    claimed: set[str] = set()
    rows = []
    for paper_row in table.rows:
        mine = [j for j in jobs if matches(paper_row, job_keys(j, data[j["job"]]))]
        claimed |= {j["job"] for j in mine}
        if not mixed_threads:
            check_threads(paper_row.label, [j for j in mine if j["status"] == "ok"])
        row = _summarise(paper_row.label, mine, table, dict(paper_row.paper.get(dataset, {})))
        if not paper_row.match:
            row.status = "not built"
        rows.append(row)
    for j in jobs:
        if j["job"] not in claimed:
            extra = _summarise(j["job"], [j], table, {})
            extra.status = "extra" if j["status"] == "ok" else "failed"
            rows.append(extra)
    relate_robustness(rows, table.robustness_reference)
    return rows, dataset
