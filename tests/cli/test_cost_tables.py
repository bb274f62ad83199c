"""The cost tables as sweeps (mode=cost at 224x224 with 1000 classes, no data): ES-BNN Table 6 and
BD-Net Table 3 run as `python -m bnnbench -m experiment=NAME`, each job writes its counts to its
summary.json, and the report puts them beside the papers' numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bnnbench.cli import CONFIG_PATH, validate
from bnnbench.report import build_rows, load_table
from bnnbench.report.cli import main as report_main

from .conftest import make_cfg

EXPERIMENTS = Path(CONFIG_PATH) / "experiment"


def _sweep(experiment: str, sweep: Path) -> None:
    cmd = [sys.executable, "-m", "bnnbench", "-m", f"experiment={experiment}", f"hydra.sweep.dir={sweep}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _report(sweep: Path, capsys) -> dict:
    assert report_main([str(sweep), "--no-plots"]) == 0
    capsys.readouterr()
    config = yaml.safe_load(next(sweep.rglob(".hydra/config.yaml")).read_text())
    rows, dataset = build_rows(sweep, load_table(config["experiment_name"]))
    assert dataset == "imagenet"
    return {r.label: r for r in rows}


def test_cost_classes_must_be_a_positive_integer():
    with pytest.raises(ValueError, match="cost_classes must be a positive integer or null"):
        validate(make_cfg("task=cls", "mode=cost", "cost_classes=0", tiny=False))


def test_es_table6_rows_use_table8s_tau_and_g():
    es = yaml.safe_load((EXPERIMENTS / "es_table6_rows" / "es.yaml").read_text())
    table8 = yaml.safe_load((EXPERIMENTS / "es_table8.yaml").read_text())["block"]
    assert es["block"] == table8 and es["model"] == {"readout": "full"}


def test_es_table6_sweep_and_report(tmp_path, capsys):
    # ES-BNN Table 6, ResNet-18 on ImageNet. The paper prints 3 decimals, so a cell agrees when it is
    # within half a unit of the last digit (0.0005). One gap stays: our ES-BNN BN FLOPs (one op per
    # BN output element: stem, every block and downsampling BN at its expanded width) are 0.077e8
    # against 0.082e8; the paper does not say which BNs it counts. OPs+ inherits that gap.
    sweep = tmp_path / "es_table6"
    _sweep("es_table6", sweep)
    summary = json.loads(next(sweep.rglob("summary.json")).read_text())
    assert summary["mode"] == "cost" and summary["cost_size"] == [224, 224]  # what the report reads
    rows = _report(sweep, capsys)
    assert [r.status for r in rows.values()] == ["ok", "ok"]
    assert (sweep / "report_es_table6.md").is_file()
    gap = {("ES-BNN", "BN FLOPs (1e8)"): 0.006, ("ES-BNN", "OPs+ (1e8)"): 0.006}
    for label, row in rows.items():
        for column in ("Conv FLOPs (1e8)", "FC FLOPs (1e8)", "BOPs (1e9)", "OPs (1e8)", "BN FLOPs (1e8)", "OPs+ (1e8)"):
            assert abs(row.diff(column)) <= gap.get((label, column), 0.0005), (label, column, row.ours[column])
        assert "Top-1" not in row.ours and row.paper["Top-1"] in (61.0, 64.4)  # the paper's only
    assert rows["ES-BNN"].ours["BN FLOPs (1e8)"][0] == pytest.approx(0.0773, abs=5e-5)
