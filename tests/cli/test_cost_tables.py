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

from bnnbench.report import build_rows, load_table
from bnnbench.report.command import main as report_main
from bnnbench.run.settings import CONFIG_PATH, validate

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


def test_es_table6_use_table8s_tau_and_g():
    es = yaml.safe_load((EXPERIMENTS / "es_table6" / "es.yaml").read_text())
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


# BD-Net Table 3: where our counts and the paper's should agree, and by how much (printed units:
# BOPs x1e9, FLOPs and OPs x1e8). The paper prints two decimals, so "agrees" is within half a unit
# of the last digit, 0.005, plus 0.001 for the paper's own rounding of BOPs before OPs.
ROUNDING = 0.006
RESNET = ("XNOR-Net", "Bi-real Net 18", "XNOR-Net++", "IR-NET", "ReCU", "INSTA-BNN (ResNet)")
# the three real 1x1 downsampling convs of ResNet-18 at 224 px (28x28x64x128 + 14x14x128x256 + 7x7x256x512 MACs)
DOWNSAMPLE_MACS = 28 * 28 * 64 * 128 + 14 * 14 * 128 * 256 + 7 * 7 * 256 * 512


def test_bdnet_table3_sweep_and_report(tmp_path, capsys):
    sweep = tmp_path / "bdnet_table3"
    _sweep("bdnet_table3", sweep)
    rows = _report(sweep, capsys)
    not_built = {"Real-to-Binary", "MoBiNet (K=4)", "MoBiNet (K=3)", "Binary MobileNet"}
    assert {label for label, r in rows.items() if r.status == "not built"} == not_built
    assert all(r.status == "ok" for label, r in rows.items() if label not in not_built)
    assert len(rows) == 21  # every job claimed by a paper row: no extra rows

    def ours(label: str, column: str) -> float:
        return rows[label].ours[column][0]

    def paper(label: str, column: str) -> float:
        return float(rows[label].paper[column])

    def agree(label: str, columns=("BOPs (1e9)", "FLOPs (1e8)", "OPs (1e8)"), tol: float = ROUNDING) -> None:
        for c in columns:
            assert abs(rows[label].diff(c)) <= tol, (label, c, ours(label, c), paper(label, c))

    # ReActNet-A and the reproduced ReActNet 0.5x (binary layers halved, real stem and last 1024 kept)
    agree("ReActNet")
    agree("*ReActNet 0.5x")
    # ResNet-18: the binary MACs agree; the paper's FLOPs vary by method (1.40 to 1.43) for the same real
    # layers, ours are the Bi-Real layout's 1.378 (ES-BNN Table 6: conv 1.373 + FC 0.005), so within 0.055
    for label in RESNET:
        agree(label, ("BOPs (1e9)",))
        assert 0 < paper(label, "FLOPs (1e8)") - ours(label, "FLOPs (1e8)") <= 0.055, label
        assert 0 < paper(label, "OPs (1e8)") - ours(label, "OPs (1e8)") <= 0.065, label
    # BNN binarizes the downsampling convs too: moving their MACs from FLOPs to BOPs gives the paper's row
    bnn_bops, bnn_flops = ours("BNN", "BOPs (1e9)") + DOWNSAMPLE_MACS / 1e9, ours("BNN", "FLOPs (1e8)") - DOWNSAMPLE_MACS / 1e8
    assert abs(bnn_bops - paper("BNN", "BOPs (1e9)")) <= ROUNDING
    assert abs(bnn_flops - paper("BNN", "FLOPs (1e8)")) <= 0.02
    assert abs(bnn_flops + bnn_bops * 10 / 64 - paper("BNN", "OPs (1e8)")) <= 0.025
    # AdaBin and INSTA-BNN on MobileNet V1: the same MACs as ReActNet-A; the paper's extra 0.08-0.09e8
    # FLOPs are their per-element real work (thresholds, scales), which MAC counting leaves out
    for label in ("Adabin", "INSTA-BNN (MobileNet V1)"):
        agree(label, ("BOPs (1e9)",))
        assert ours(label, "FLOPs (1e8)") == ours("ReActNet", "FLOPs (1e8)")
        assert 0.07 <= paper(label, "FLOPs (1e8)") - ours(label, "FLOPs (1e8)") <= 0.10, label
    # BD-Net with the point-wise convs 1.58-bit too (dual=all) fits the paper's BOPs within 3%; its FLOPs
    # exceed our stem + FC + real stride-2 depth-wise convs by 0.01-0.03e8 (work it does not itemise)
    for label in ("BD-Net-A (ReActNet)", "BD-Net-B (ReActNet)", "BD-Net-B(x1.5) (ReActNet)"):
        every, dw = f"{label}, dual=all", f"{label}, dual=dw"
        assert ours(every, "BOPs (1e9)") == pytest.approx(paper(every, "BOPs (1e9)"), rel=0.03), every
        assert 0 <= paper(every, "FLOPs (1e8)") - ours(every, "FLOPs (1e8)") <= 0.035, every
        assert ours(every, "OPs (1e8)") == pytest.approx(paper(every, "OPs (1e8)"), rel=0.06), every
        # only the depth-wise convs 1.58-bit (the paper's text) gives about half the paper's BOPs
        assert 0.45 <= ours(dw, "BOPs (1e9)") / paper(dw, "BOPs (1e9)") <= 0.55, dw
        assert ours(dw, "FLOPs (1e8)") == ours(every, "FLOPs (1e8)")
