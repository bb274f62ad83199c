"""Lightning DDP on the CPU (gloo): two processes train one job; rank 0 alone writes and prints
the summary, each rank takes its share of the cores, and the synchronised test metrics equal a
single-process evaluation of the same checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bnnbench.run.execute import run
from bnnbench.run.settings import processes, set_threads

from .conftest import TINY, make_cfg

# 8 test images, 4 per rank: no sample is duplicated by the distributed sampler
SMALL = [o for o in TINY if not o.startswith(("trainer.max_epochs", "data.batch_size"))] + [
    "trainer.max_epochs=1", "data.batch_size=4", "data.test_size=8", "logger=csv"]


def test_two_process_cpu_ddp_reports_once_and_equals_the_single_process_evaluation(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # the command (trainer=ddp keeps sync_batchnorm: true, which stopped both ranks on the CPU);
    # trainer=ddp_cpu is the same without the notice
    ddp = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.precision=32-true"]
    proc = subprocess.run([sys.executable, "-m", "bnnbench", *ddp, *SMALL], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert proc.stdout.count("summary: seg") == 1  # rank 0 only
    assert proc.stdout.count("trainer.sync_batchnorm=false: SyncBatchNorm runs on GPUs only") == 1
    (job,) = (tmp_path / "outputs" / "default").iterdir()
    summary = json.loads((job / "summary.json").read_text())
    cores = len(os.sched_getaffinity(0))
    assert summary["processes"] == 2 and summary["torch_threads"] == max(1, cores // 2)
    single = run(make_cfg(*SMALL, "threads=1", "mode=test", f"ckpt_path={summary['best_checkpoint']}"),
                 output_dir=tmp_path / "single")
    assert single["processes"] == 1
    for key in ("test/mIoU", "test/pixel_acc"):
        assert summary[key] == pytest.approx(single[key], abs=1e-6), key


def test_threads_are_shared_by_the_ranks_and_syncbatchnorm_is_turned_off_on_the_cpu(capsys):
    assert processes({"strategy": "ddp", "devices": 2}) == 2
    assert processes({"strategy": "ddp", "devices": [0, 1, 2]}) == 3
    assert processes({"strategy": "auto", "devices": 4}) == 1
    cores = len(os.sched_getaffinity(0))
    try:
        assert set_threads("auto", 2) == max(1, cores // 2)
    finally:
        set_threads("auto")
    from bnnbench.run.settings import check_sync_batchnorm

    cfg = {"accelerator": "cpu", "sync_batchnorm": True}
    check_sync_batchnorm(cfg)
    assert cfg["sync_batchnorm"] is False and "runs on GPUs only" in capsys.readouterr().out
    gpu = {"accelerator": "gpu", "sync_batchnorm": True}
    check_sync_batchnorm(gpu)
    assert gpu["sync_batchnorm"] is True
