"""`python -m bnnbench.report`: a sweep as its paper table, ours (mean +- std over seeds) beside the
paper's numbers, in Markdown, CSV and LaTeX, with PNG figures and an optional W&B upload."""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from pathlib import Path

import pytest
import yaml

from bnnbench.report import build_rows, load_table, table_names
from bnnbench.report.cli import main
from bnnbench.report.render import render


def _job(sweep: Path, name: str, overrides: list[str], summary: dict | None, experiment: str, data: str = "gen_seg",
         logger: str = "csv") -> None:
    d = sweep / name
    (d / ".hydra").mkdir(parents=True)
    (d / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (d / ".hydra" / "config.yaml").write_text(yaml.safe_dump(
        {"experiment_name": experiment, "data": {"name": data}, "seed": 0, "logger": {"name": logger, "mode": "offline"},
         "task": {"name": "seg"}, "model": {"name": "m"}, "binarizer": {"name": "b"}, "block": {"name": "k"}}))
    if summary is None:
        (d / "error.txt").write_text("Traceback ...\nRuntimeError: boom\n")
    else:
        (d / "summary.json").write_text(json.dumps(summary))


def _summary(miou: float, acc: float, seed: int, ops: float = 1.7e6) -> dict:
    return {"mode": "train", "task": "seg", "model": "convnext_upernet", "binarizer": "dab", "block": "cfb",
            "seed": seed, "test/mIoU": miou, "test/pixel_acc": acc, "cost/params": 1.2e5, "cost/ops": ops,
            "wall_time_s": 3.0}


@pytest.fixture
def table4_sweep(tmp_path: Path) -> Path:
    sweep = tmp_path / "multirun" / "bidense_table4" / "2026-11-29_12-00-00"
    for i, (miou, seed) in enumerate([(0.30, 0), (0.34, 1)]):
        _job(sweep, f"full{seed}", ["+experiment/table4=full", f"seed={seed}"], _summary(miou, 0.70 + 0.01 * i, seed),
             "bidense_table4")
    _job(sweep, "fp0", ["+experiment/table4=fp", "seed=0"], _summary(0.50, 0.80, 0, ops=9e7), "bidense_table4")
    _job(sweep, "nocfb0", ["+experiment/table4=no_cfb", "seed=0"], None, "bidense_table4")
    _job(sweep, "other", ["binarizer=bnn"], _summary(0.1, 0.5, 0), "bidense_table4")
    return sweep


def test_paper_columns_are_the_numbers_printed_in_the_papers():
    # transcribed independently of the data files from the papers' tables
    printed = {
        ("bidense_table4", "BiDense (Full)", "ADE20K"): {"mIoU": 18.75, "pixAcc": 67.25, "OPs": 5.37, "Params": 1626},
        ("bidense_table4", "7) alpha = MAD", "ADE20K"): {"mIoU": 4.97, "pixAcc": 49.3},
        ("bidense_table1", "AdaBin", "ADE20K"): {"mIoU": 7.16, "OPs": 5.24},
        ("bidense_table2", "BiSRNet", "VOC"): {"mIoU": 47.5, "pixAcc": 86.30},
        ("bidense_table3", "BiDense", "KITTI"): {"RMSE": 3.389, "d1": 0.896},
        ("bidense_table3", "AdaBin", "NYUv2"): {"AbsRel": 0.256, "log10": 0.112},
        ("es_table3", "BiDet (ES-BNN)", "VOC"): {"mAP": 63.5},
        ("es_table1", "RBNN + ES", "CIFAR-10"): {"top1": 90.4},
        ("es_table5", "Bi-Real, tau 16, g 1", "CIFAR-10"): {"top1": 80.2},
        ("es_table5", "ReCU, tau 4, g 4", "CIFAR-10"): {"top1": 90.0},
    }
    for (name, label, data), values in printed.items():
        row = next(r for r in load_table(name).rows if r.label == label)
        for column, value in values.items():
            assert row.paper[data][column] == value, (name, label, column)


@pytest.mark.parametrize("name", table_names())
def test_every_table_names_an_experiment_and_its_rows_select_jobs(name):
    table = load_table(name)
    conf = Path(__file__).parents[2] / "bnnbench" / "conf" / "experiment"
    assert (conf / f"{table.experiment}.yaml").is_file()
    for row in table.rows:
        for key, value in row.match.items():
            if key.endswith("_rows") or key.startswith("table"):  # a row file of conf/experiment/<key>/
                assert (conf / key / f"{value}.yaml").is_file(), (name, row.label)


def test_rows_in_the_papers_order_with_mean_std_over_seeds_and_the_difference(table4_sweep):
    table = load_table("bidense_table4")
    rows, dataset = build_rows(table4_sweep, table)
    assert dataset == "ADE20K"
    assert [r.label for r in rows[:3]] == ["ConvNeXt (32-bit)", "ReActNet", "BiDense (Full)"]
    full = rows[2]
    assert full.status == "ok" and full.seeds == [0, 1]
    mean, std = full.ours["mIoU"]
    assert mean == pytest.approx(32.0) and std == pytest.approx(statistics.stdev([30.0, 34.0]))
    assert full.diff("mIoU") == pytest.approx(32.0 - 18.75)
    assert rows[0].status == "ok" and math.isnan(rows[0].ours["mIoU"][1])  # one seed: no std
    assert rows[1].status == "missing" and rows[1].ours == {}
    assert next(r for r in rows if r.label == "2) w/o CFB").status == "failed"
    assert rows[-1].status == "extra" and rows[-1].label == "other"


def test_formats_and_figures_and_cli(table4_sweep, capsys):
    table = load_table("bidense_table4")
    rows, dataset = build_rows(table4_sweep, table)
    md = render(table, rows, dataset, "md")
    assert "| BiDense (Full) | 2 | 70.50 ± 0.71 | 67.25 | +3.25 | 32.00 ± 2.83 | 18.75 | +13.25 |" in md
    parsed = list(csv.reader(io.StringIO(render(table, rows, dataset, "csv"))))
    assert parsed[0][:5] == ["Method", "seeds", "pixAcc (ours)", "pixAcc (ADE20K)", "pixAcc diff"]
    assert len(parsed) == 1 + len(table.rows) + 1
    tex = render(table, rows, dataset, "latex")
    assert r"\begin{tabular}" in tex and r"32.00 $\pm$ 2.83" in tex
    assert main([str(table4_sweep), "--format", "md"]) == 0
    out = capsys.readouterr().out
    assert "missing rows (no job in the sweep): ReActNet" in out
    assert (table4_sweep / "report_bidense_table4.md").read_text() == md
    pngs = sorted(p.name for p in (table4_sweep / "report").glob("*.png"))
    assert pngs == ["bidense_table4_pixAcc_per_row.png", "bidense_table4_pixAcc_vs_ops.png"]
    assert all((table4_sweep / "report" / p).stat().st_size > 5000 for p in pngs)


def test_multi_dataset_table_puts_the_requested_data_set_beside(tmp_path):
    sweep = tmp_path / "s"
    _job(sweep, "a", ["+experiment/bidense_rows=bidense"], {**_summary(0, 0, 0), "test/d1": 0.5, "test/rmse": 1.0},
         "bidense_table3", data="kitti")
    table = load_table("bidense_table3")
    rows, dataset = build_rows(sweep, table)
    assert dataset == "KITTI"  # the sweep ran on data named kitti
    bidense = next(r for r in rows if r.label == "BiDense")
    assert bidense.paper["RMSE"] == 3.389 and bidense.diff("d1") == pytest.approx(0.5 - 0.896)
    rows, dataset = build_rows(sweep, table, "NYUv2")
    assert dataset == "NYUv2" and next(r for r in rows if r.label == "BiDense").paper["RMSE"] == 0.610
    with pytest.raises(ValueError, match="valid choices are NYUv2, KITTI"):
        build_rows(sweep, table, "nyu")


def test_bad_input_is_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    sweep = tmp_path / "s"
    _job(sweep, "a", ["binarizer=bnn"], _summary(0.1, 0.5, 0), "my_own_experiment")
    assert main([str(sweep)]) == 2
    err = capsys.readouterr().err
    assert "has no paper table: give --table, one of " in err and "bidense_table1" in err
    assert main([str(sweep), "--table", "nope"]) == 2
    assert "no paper table 'nope': valid choices are" in capsys.readouterr().err


def test_wandb_upload_offline(table4_sweep, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    assert main([str(table4_sweep), "--wandb", "on"]) == 0
    assert "W&B: table and 2 figures logged" in capsys.readouterr().out
    runs = list((table4_sweep / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
