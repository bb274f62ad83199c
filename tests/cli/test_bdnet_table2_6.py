"""BD-Net Tables 2 (MobileNet V1: ReActNet and AdaBin, BD-Net-A/B) and 6 (pre-BN residual x 1.58-bit
depth-wise conv) as sweeps: each row builds the network of the paper's protocol; the slow test runs
both sweeps shortened, then their reports."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bnnbench import job
from bnnbench.blocks.bdnet import BDNetBlock, DualConv
from bnnbench.blocks.layers import Maxout, RPReLU
from bnnbench.report import build_rows, load_table
from bnnbench.report.cli import main as report_main

from .conftest import make_cfg

pytestmark = pytest.mark.usefixtures("one_thread")


def _model(experiment: str, row: str):
    cfg = make_cfg(f"experiment={experiment}", f"+experiment/{experiment}_rows={row}", tiny=False)
    job.check(cfg)
    return cfg, job.build_model(cfg, job.describe_data(cfg))


def test_table2_rows_build_the_papers_networks():
    # (model, binarizer, activation of the binary layers): AdaBin's MobileNet V1 is ReActNet-A with Maxout
    expected = {"fp": ("mobilenet_v1", "fp", None), "reactnet": ("reactnet_a", "reactnet", RPReLU),
                "bdnet_a": ("bdnet_a", "reactnet", RPReLU), "bdnet_b": ("bdnet_b", "reactnet", RPReLU),
                "adabin": ("reactnet_a", "adabin", Maxout), "bdnet_a_adabin": ("bdnet_a", "adabin", Maxout),
                "bdnet_b_adabin": ("bdnet_b", "adabin", Maxout)}
    for row, (model_name, binarizer, act) in expected.items():
        cfg, model = _model("bdnet_table2", row)
        assert (cfg.model.name, cfg.binarizer.name, cfg.model.width_mult) == (model_name, binarizer, 0.25), row
        acts = {type(m) for m in model.modules() if isinstance(m, (RPReLU, Maxout))}
        assert acts == (set() if act is None else {act}), row
        blocks = [m for m in model.modules() if isinstance(m, BDNetBlock)]
        assert bool(blocks) == model_name.startswith("bdnet"), row
        # BD-Net: 1.58-bit depth-wise convs only (dual: dw); BD-Net-B keeps its stride-2 ones real
        assert all(b.dual == "dw" and b.prebn for b in blocks), row
        assert any(b.real_dw for b in blocks) == (model_name == "bdnet_b"), row


def test_table6_rows_switch_pre_bn_and_the_158_bit_conv():
    expected = {"baseline": (False, False), "prebn": (True, False), "dual": (False, True), "ours": (True, True)}
    for row, (prebn, dual) in expected.items():
        cfg, model = _model("bdnet_table6", row)
        assert (cfg.model.name, cfg.binarizer.name, cfg.block.act) == ("bdnet_a", "adabin", "maxout"), row
        blocks = [m for m in model.modules() if isinstance(m, BDNetBlock)]
        assert blocks and all(b.prebn == prebn for b in blocks), row
        assert all(isinstance(b.conv, DualConv) == dual for b in blocks), row
        assert not any(isinstance(b.pw, DualConv) for b in blocks), row  # point-wise convs single binary


SHORT = ["data.batch_size=16", "trainer.max_epochs=1", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1",
         "+trainer.limit_test_batches=1", "trainer.enable_progress_bar=false", "logger=none", "trainer.threads=1"]


@pytest.mark.slow
@pytest.mark.parametrize(("experiment", "printed"), [
    ("bdnet_table2", {"Full-Precision": 92.26, "BD-Net-B (ReActNet)": 89.93, "BD-Net-B (AdaBin)": 90.48}),  # CIFAR-10
    ("bdnet_table6", {"Baseline": 54.94, "+ Pre-BN": 56.93, "+ 1.58-bit conv": 56.18, "Ours": 58.28}),
])
def test_short_sweep_then_report(experiment, printed, tmp_path, capsys):
    sweep = tmp_path / experiment
    cmd = [sys.executable, "-m", "bnnbench", "-m", f"experiment={experiment}", *SHORT, f"hydra.sweep.dir={sweep}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = load_table(experiment)
    rows, _ = build_rows(sweep, table)
    assert [r.label for r in rows] == [r.label for r in table.rows]  # every job claimed, in the paper's order
    assert all(r.status == "ok" and 0 <= r.ours[table.columns[0].name][0] <= 100 for r in rows)
    # the paper column is the paper's (the proxy ran on the cls task's data, so CIFAR-10 / CIFAR-100 goes beside)
    column = table.columns[0].name
    for label, value in printed.items():
        assert next(r for r in rows if r.label == label).paper[column] == value, label
    assert report_main([str(sweep), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert all(label in out for label in printed) and (sweep / f"report_{experiment}.md").is_file()
