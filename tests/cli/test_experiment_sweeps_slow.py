"""Every paper-table experiment end to end: its sweep runs (shortened), then its report, whose
paper column must be the seed paper's numbers for that table and whose every built row is ok."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bnnbench.report.aggregate import build_rows
from bnnbench.report.command import main as report_main
from bnnbench.report.paper_tables import load_table, table_for_experiment

from .conftest import make_cfg
from .test_every_config import SWEEPS, _smoke

TABLED = [e for e in SWEEPS if table_for_experiment(e)]


def test_every_sweep_experiment_but_the_ones_named_here_has_a_paper_table():
    assert set(SWEEPS) - set(TABLED) == set()


@pytest.mark.slow
@pytest.mark.parametrize("experiment", TABLED)
def test_sweep_then_report_gives_the_papers_numbers_beside_every_row(experiment, tmp_path, capsys):
    task = make_cfg(f"experiment={experiment}", tiny=False).task.name
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "bnnbench", "-m", f"experiment={experiment}", *_smoke(task),
           "threads=1", f"hydra.sweep.dir={sweep}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3000,
                          env={**os.environ, "HYDRA_FULL_ERROR": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]

    table = load_table(table_for_experiment(experiment))
    rows, dataset = build_rows(sweep, table)
    built = [r for r, paper in zip(rows, table.rows) if paper.match]
    assert built and all(r.status == "ok" for r in built), [(r.label, r.status) for r in built]
    assert not [r.label for r in rows[len(table.rows):]], "jobs no paper row claims"
    for row, paper in zip(rows, table.rows):
        assert row.paper == dict(paper.paper.get(dataset, {})), row.label

    assert report_main([str(sweep), "--no-plots", "--format", "csv"]) == 0
    printed = capsys.readouterr().out
    for paper in table.rows:
        assert paper.label in printed
    assert "orderings (" in printed
    assert Path(sweep / f"report_{table.name}.csv").is_file()
