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
from bnnbench.report.command import main
from bnnbench.report.paper_tables import table_for_experiment
from bnnbench.report.render import render

from ..cli.conftest import sweep_params, sweep_rows


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
        _job(sweep, f"full{seed}", ["+experiment/bidense_table4=full", f"seed={seed}"], _summary(miou, 0.70 + 0.01 * i, seed),
             "bidense_table4")
    _job(sweep, "fp0", ["+experiment/bidense_table4=fp", "seed=0"], _summary(0.50, 0.80, 0, ops=9e7), "bidense_table4")
    _job(sweep, "nocfb0", ["+experiment/bidense_table4=no_cfb", "seed=0"], None, "bidense_table4")
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


CONF_EXPERIMENT = Path(__file__).parents[2] / "bnnbench" / "conf" / "experiment"


@pytest.mark.parametrize("name", table_names())
def test_a_table_is_one_name_its_sweep_runs_its_row_files_and_each_row_file_is_a_paper_row(name):
    # tables/<name>.yaml, conf/experiment/<name>.yaml and the rows conf/experiment/<row group>/
    table = load_table(name)
    assert table.experiment == name and (CONF_EXPERIMENT / f"{name}.yaml").is_file()
    folder = CONF_EXPERIMENT / table.row_group
    files = {p.stem for p in folder.glob("*.yaml")}
    rows = {r.row for r in table.rows if r.row is not None}
    assert rows <= files, (name, sorted(rows - files))  # every built paper row has its row file
    assert str(sweep_params(name)[f"+experiment/{table.row_group}"]).startswith("glob(*")  # row names are not typed a third time
    # the row group's runs (a sweep may choose other groups too: ES-BNN Table 5's base methods)
    runs = {r.partition("=")[2] for r in sweep_rows(name) if r.startswith(f"+experiment/{table.row_group}=")}
    assert runs == rows, (name, sorted(runs ^ rows))  # and no row file runs unreported


def test_a_sweep_recorded_under_the_former_row_group_names_reports_the_same_rows(tmp_path):
    # before the rows moved into conf/experiment/<table>/, their groups were <table>_rows, table3,
    # table4, bidense_rows and the experiment bidiffsr_table4: such sweeps still report (aliases)
    old, new = tmp_path / "old", tmp_path / "new"
    for sweep, group in ((old, "table4"), (new, "bidense_table4")):
        for row, miou in (("full", 0.3), ("fp", 0.5)):
            _job(sweep, row, [f"+experiment/{group}={row}", "seed=0"], _summary(miou, 0.7, 0), "bidense_table4")
    table = load_table("bidense_table4")
    assert [(r.label, r.status, r.ours) for r in build_rows(old, table)[0]] == \
        [(r.label, r.status, r.ours) for r in build_rows(new, table)[0]]
    full = next(r for r in build_rows(old, table)[0] if r.label == "BiDense (Full)")
    assert full.status == "ok" and full.ours["mIoU"][0] == pytest.approx(30.0)
    assert table_for_experiment("bidiffsr_table4") == "es_table4" == table_for_experiment("es_table4")


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
    # the table's declared recipe (tests/report/test_recipes.py checks it against the rows' configs)
    assert ("recipe (each row, on the proxy): optimizer adamw, lr 0.001, scheduler onecycle, epochs 12, "
            "steps 1, teacher none; per row: model") in out
    assert (table4_sweep / "report_bidense_table4.md").read_text() == md
    pngs = sorted(p.name for p in (table4_sweep / "report").glob("*.png"))
    assert pngs == ["bidense_table4_pixAcc_per_row.png", "bidense_table4_pixAcc_vs_ops.png"]
    assert all((table4_sweep / "report" / p).stat().st_size > 5000 for p in pngs)


def test_multi_dataset_table_puts_the_requested_data_set_beside(tmp_path):
    sweep = tmp_path / "s"
    _job(sweep, "a", ["+experiment/bidense=bidense"], {**_summary(0, 0, 0), "test/d1": 0.5, "test/rmse": 1.0},
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


# BD-Net Tables 2, 3, 6 and ES-BNN Table 6 as printed in the papers (pasted row by row, parsed here,
# independently of the data files); "-" is a cell the paper leaves empty
BDNET_TABLE2 = """\
Full-Precision	92.26	42.6M	69.62	42.6M	65.97	383M	58.04	170M	50.31	569M
ReActNet	71.04	6.97M	57.19	6.97M	69.23	62.7M	42.62	27.9M	31.88	97M
BD-Net-A (ReActNet)	78.37	1.56M	50.11	1.56M	65.60	14.0M	38.98	6.23M	36.46	32.5M
BD-Net-B (ReActNet)	89.93	1.83M	63.83	1.83M	77.03	16.4M	52.06	7.31M	45.18	34.6M
AdaBin	81.60	7.28M	55.35	7.28M	69.68	65.6M	44.96	29.1M	40.66	102M
BD-Net-A (AdaBin)	84.87	1.59M	58.28	1.59M	65.19	14.3M	44.10	6.37M	41.16	33M
BD-Net-B (AdaBin)	90.48	1.86M	64.66	1.86M	73.90	16.7M	52.01	7.44M	45.70	35.5M"""
BDNET_TABLE3 = """\
BNN	1.70	1.20	1.47	42.2	67.1
XNOR-Net	1.68	1.40	1.66	51.2	73.2
Bi-real Net 18	1.68	1.41	1.67	56.4	79.5
XNOR-Net++	1.68	1.42	1.68	57.1	79.9
IR-NET	1.68	1.41	1.67	58.1	80.0
Real-to-Binary	1.68	1.40	1.66	65.4	86.2
ReCU	1.68	1.40	1.67	66.4	86.5
INSTA-BNN (ResNet)	1.68	1.43	1.70	67.6	87.5
ReActNet	4.82	0.12	0.87	69.4	-
Adabin	4.82	0.21	0.96	70.4	-
INSTA-BNN (MobileNet V1)	4.82	0.20	0.95	71.7	90.3
MoBiNet (K=4)	-	-	0.52	54.4	77.5
MoBiNet (K=3)	-	-	0.49	53.5	76.5
Binary MobileNet	-	-	0.33	51.1	74.2
*ReActNet 0.5x	1.22	0.12	0.31	60.7	82.6
BD-Net-A (ReActNet)	1.09	0.13	0.30	63.9	84.8
BD-Net-B (ReActNet)	1.08	0.16	0.33	65.3	85.8
BD-Net-B(x1.5) (ReActNet)	2.50	0.26	0.65	69.4	88.8"""
BDNET_TABLE6 = {"Baseline": 54.94, "+ Pre-BN": 56.93, "+ 1.58-bit conv": 56.18, "Ours": 58.28}
ES_TABLE6 = {  # Conv FLOPs, FC FLOPs, BOPs, OPs, BN FLOPs, OPs+, Top-1
    "Baseline": (1.373, 0.005, 1.676, 1.640, 0.025, 1.665, 61.0),
    "ES-BNN": (1.373, 0.041, 1.676, 1.676, 0.082, 1.758, 64.4),
}


def _cell(text: str) -> float | None:
    return None if text == "-" else float(text.rstrip("M"))


def test_bdnet_and_es_cost_tables_paper_columns_are_the_printed_numbers():
    datasets = ("cifar10", "cifar100", "stl10", "tiny_imagenet", "flowers102")
    table = load_table("bdnet_table2")
    lines = BDNET_TABLE2.splitlines()
    assert [r.label for r in table.rows] == [ln.split("\t")[0] for ln in lines]
    for row, line in zip(table.rows, lines):
        cells = line.split("\t")[1:]
        for i, d in enumerate(datasets):
            assert row.paper[d] == {"top1": _cell(cells[2 * i]), "OPs": _cell(cells[2 * i + 1])}, (row.label, d)

    table = load_table("bdnet_table3")
    printed = {ln.split("\t")[0]: [_cell(c) for c in ln.split("\t")[1:]] for ln in BDNET_TABLE3.splitlines()}
    columns = ("BOPs (1e9)", "FLOPs (1e8)", "OPs (1e8)", "Top-1", "Top-5")
    seen = set()
    for row in table.rows:
        label = row.label.split(", dual=")[0]  # BD-Net rows twice (dual=all, dual=dw), both with the paper's numbers
        seen.add(label)
        assert [row.paper["imagenet"][c] for c in columns] == printed[label], row.label
    assert seen == set(printed)

    table = load_table("bdnet_table6")
    assert {r.label: r.paper["cifar100"]["Accuracy"] for r in table.rows} == BDNET_TABLE6
    table = load_table("es_table6")
    columns = ("Conv FLOPs (1e8)", "FC FLOPs (1e8)", "BOPs (1e9)", "OPs (1e8)", "BN FLOPs (1e8)", "OPs+ (1e8)", "Top-1")
    assert {r.label: tuple(r.paper["imagenet"][c] for c in columns) for r in table.rows} == ES_TABLE6


def test_a_paper_row_we_do_not_build_shows_as_not_built(tmp_path):
    sweep = tmp_path / "s"
    _job(sweep, "bnn", ["+experiment/bdnet_table3=bnn"], {**_summary(0, 0, 0), "cost/bops": 1.676e9},
         "bdnet_table3", data="imagenet")
    rows, dataset = build_rows(sweep, load_table("bdnet_table3"))
    status = {r.label: r.status for r in rows}
    assert dataset == "imagenet" and status["BNN"] == "ok" and status["ReActNet"] == "missing"
    assert status["MoBiNet (K=4)"] == status["Real-to-Binary"] == "not built"
    assert rows[0].diff("BOPs (1e9)") == pytest.approx(1.676 - 1.70)


def _robust_summary(clean: float, grid: dict[str, float], seed: int) -> dict:
    return {"mode": "train", "task": "cls", "seed": seed, "test/top1": clean, "cost/params": 1e4, "cost/ops": 1e6,
            "robust/metric": "test/top1", "robust/higher_is_better": True,
            "robust/mean": statistics.fmean(grid.values()), **{f"robust/{k}": v for k, v in grid.items()}}


def test_a_sweep_tested_under_corruptions_has_the_robustness_column_mce_and_the_severity_plot(tmp_path, capsys):
    # 32-bit (two seeds) and BNN: top-1 per (corruption, severity). mCE (Hendrycks & Dietterich
    # 2019): BNN's errors fog (0.5 + 0.7), snow (0.3 + 0.5) over the 32-bit's seed-mean errors
    # fog (0.2 + 0.4), snow (0.1 + 0.3): (1.2/0.6 + 0.8/0.4) / 2 = 2 -> 200 %; the 32-bit seeds
    # against their mean: (0.5/0.6 + 0.3/0.4) / 2 = 79.17 % and (0.7/0.6 + 0.5/0.4) / 2 = 120.83 %
    sweep = tmp_path / "multirun" / "robustness_cls" / "d"
    for seed, shift in ((0, 0.05), (1, -0.05)):
        fp = {"fog/1": 0.8 + shift, "fog/3": 0.6 + shift, "snow/1": 0.9 + shift, "snow/3": 0.7 + shift}
        _job(sweep, f"fp{seed}", ["+experiment/robustness_cls=fp", f"seed={seed}"],
             _robust_summary(0.99, fp, seed), "robustness_cls", data="digits")
    bnn = {"fog/1": 0.5, "fog/3": 0.3, "snow/1": 0.7, "snow/3": 0.5}
    _job(sweep, "bnn0", ["+experiment/robustness_cls=bnn", "seed=0"], _robust_summary(0.9, bnn, 0),
         "robustness_cls", data="digits")
    table = load_table("robustness_cls")
    rows, dataset = build_rows(sweep, table)
    fp_row, bnn_row = rows[0], rows[1]
    assert fp_row.robust.mce[0] == pytest.approx(100.0) and bnn_row.robust.mce[0] == pytest.approx(200.0)
    assert fp_row.robust.mce[1] == pytest.approx(statistics.stdev([100 * (0.5 / 0.6 + 0.3 / 0.4) / 2,
                                                                   100 * (0.7 / 0.6 + 0.5 / 0.4) / 2]))
    assert fp_row.robust.mean[0] == pytest.approx(0.75) and bnn_row.robust.clean == pytest.approx(0.9)
    md = render(table, rows, dataset, "md")
    head = md.splitlines()[2]
    assert "top1 corrupted (mean)" in head and "mCE vs 32-bit (%)" in head
    assert "| BNN | 1 | 90.00 | - | - | 10.000K | - | 1.000M | - | 50.00 | 200.0 | ok |" in md
    assert "| 32-bit | 2 | 99.00 ± 0.00 | - | - | 10.000K | - | 1.000M | - | 75.00 ± 7.07 | 100.0 ± 29.5 | ok |" in md
    assert main([str(sweep), "--format", "md"]) == 0
    capsys.readouterr()
    png = sweep / "report" / "robustness_cls_vs_severity.png"
    assert png.is_file() and png.stat().st_size > 5000


def test_a_row_whose_seeds_ran_at_different_thread_counts_is_refused_unless_asked(table4_sweep, capsys):
    # a seeded run is bit-for-bit per seed and thread count: BiDense seed 0 at 1 and 2 threads
    # differed by 0.6 mIoU, as large as the paper's ablation gaps
    for job, threads in (("full0", 1), ("full1", 2)):
        path = table4_sweep / job / "summary.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "torch_threads": threads}))
    with pytest.raises(ValueError, match=r"row 'BiDense \(Full\)' mixes torch thread counts \[1, 2\]"):
        build_rows(table4_sweep, load_table("bidense_table4"))
    assert main([str(table4_sweep), "--no-plots"]) == 2
    assert "--mixed-threads" in capsys.readouterr().err
    rows, _ = build_rows(table4_sweep, load_table("bidense_table4"), mixed_threads=True)
    assert rows[2].seeds == [0, 1]
