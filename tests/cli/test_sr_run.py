"""task=sr through the CLI behaves as the other tasks: resume reproduces an uninterrupted run, the
summary carries the bicubic baseline and the cost per image, and the Table 4 sweep runs on real
data layouts."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from bnnbench.export.__main__ import main as export_main
from bnnbench.run.execute import run

from ..data.test_sr_data import write_pairs
from .conftest import make_cfg
from .test_run import KillAfterEpoch, Killed

TINY_MODEL = ["model.channels=8", "model.channel_mults=[1,2]", "model.res_blocks=1", "model.norm_groups=4",
              "model.dropout=0.0"]
SR = ["task=sr", "trainer.enable_progress_bar=false", "logger=csv", "threads=1", *TINY_MODEL,
      "data.image_size=[16,16]", "data.train_size=8", "data.val_size=1", "data.test_size=2", "data.batch_size=4",
      "data.test_tile=16", "task.sample_steps=2", "trainer.max_epochs=3"]


def test_sr_resume_reaches_the_same_scores_as_an_uninterrupted_run(tmp_path):
    cfg = make_cfg(*SR, tiny=False)
    full = run(cfg, output_dir=tmp_path / "full")
    with pytest.raises(Killed):
        run(make_cfg(*SR, tiny=False), output_dir=tmp_path / "killed", callbacks=[KillAfterEpoch(1)])
    resumed = run(make_cfg(*SR, "resume=true", tiny=False), output_dir=tmp_path / "killed")
    assert resumed["test/psnr_y"] == pytest.approx(full["test/psnr_y"], abs=1e-6)
    assert resumed["test/bicubic_psnr_y"] == full["test/bicubic_psnr_y"] > resumed["test/grey_psnr_y"]
    # the sampler's 2 steps: the cost of a super-resolved image is twice the cost of a step
    assert full["cost/per_output_bops"] == 2 * full["cost/bops"] > 0
    # export of the run: every binary conv packed, one denoising step as the float model's
    report_file, config = tmp_path / "packed", tmp_path / "config.yaml"
    OmegaConf.save(cfg, config)
    assert export_main([f"ckpt={full['best_checkpoint']}", f"config={config}", f"out={report_file}",
                        "backend=reference"]) == 0
    report = json.loads((report_file / "export_report.json").read_text())
    assert report["check"]["max_abs_diff"] <= 1e-3 * report["check"]["output_scale"]


@pytest.mark.slow  # a subprocess sweep (~15 s of CPU); the rows also run one step in test_every_config
def test_table4_sweep_trains_on_df2k_and_tests_on_a_benchmark(tmp_path):
    df2k, bench = tmp_path / "DF2K", tmp_path / "benchmark"
    write_pairs(df2k, ["0001", "0002"], "{name}x2", size=32)
    write_pairs(bench / "Set5", ["baby", "bird"], "{name}x2")
    sweep = tmp_path / "sweep"
    cmd = [
        sys.executable, "-m", "bnnbench", "--multirun", "experiment=es_table4",
        "+experiment/paper_setting=es_table4",  # the paper's setting, on DF2K files
        "+experiment/es_table4=reactnet,bidiffsr_es",  # two of its rows, so that the test stays short
        "trainer=cpu", "trainer.max_epochs=1", "threads=1", "trainer.enable_progress_bar=false", *TINY_MODEL,
        f"data.root={df2k}", f"data.benchmark_root={bench}", "data.patch_size=16", "data.batch_size=2",
        "data.repeats=1", "data.num_workers=0", "task.sample_steps=2", "logger=csv", "scan_data=false",
        f"hydra.sweep.dir={sweep}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with (sweep / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert sorted((r["binarizer"], r["block"]) for r in rows) == [("bidiffsr", "es"), ("reactnet", "auto")]
    for r in rows:
        assert float(r["test/bicubic_psnr_y"]) > float(r["test/grey_psnr_y"]) > 0
        assert float(r["cost/per_output_bops"]) == 2 * float(r["cost/bops"])


@pytest.mark.slow
def test_the_default_run_learns_to_super_resolve(tmp_path):
    # python -m bnnbench task=sr: the loss falls by more than half, and the test PSNR on Y is at
    # least 10 dB above a flat grey image's (bicubic is printed beside; a CPU run does not beat it)
    result = run(make_cfg("task=sr", "trainer.enable_progress_bar=false", tiny=False), output_dir=tmp_path)
    with (tmp_path / "metrics.csv").open() as f:
        logged = [(int(r["epoch"]), float(r["train/loss"])) for r in csv.DictReader(f) if r.get("train/loss")]
    last_epoch = [loss for epoch, loss in logged if epoch == logged[-1][0]]
    assert sum(last_epoch) / len(last_epoch) < 0.5 * logged[0][1]
    assert result["test/psnr_y"] >= result["test/grey_psnr_y"] + 10
