"""Sweeps through the real command line, and the optional loggers."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import yaml
from lightning.pytorch.callbacks import Callback

from bnnbench.run.execute import run

from .conftest import TINY, make_cfg


def test_multirun_reports_a_failed_job_and_finishes_the_others(tmp_path):
    sweep = tmp_path / "sweep"
    cmd = [
        sys.executable, "-m", "bnnbench", "--multirun",
        "block.grouping=interleaved,windows",  # `windows` is not a CFB grouping: that job fails
        *[o for o in TINY if not o.startswith("trainer.max_epochs")],
        "trainer.max_epochs=1",
        f"hydra.sweep.dir={sweep}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    # the sweep finishes every job, then exits non-zero because one failed
    assert proc.returncode == 1, proc.stderr[-3000:]
    # one folder per job, named by its overrides (key-value+key-value: pastes back unquoted)
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.startswith("block.grouping-"))
    assert len(jobs) == 2
    ok, bad = jobs
    assert ok.name.startswith("block.grouping-interleaved+") and bad.name.startswith("block.grouping-windows+")
    assert (ok / "summary.json").is_file() and (ok / "metrics.csv").is_file()
    assert (ok / "checkpoints" / "last.ckpt").is_file() and (ok / ".hydra" / "config.yaml").is_file()
    assert "grouping must be one of" in (bad / "error.txt").read_text()
    assert "failed" in proc.stdout and "block.grouping-windows" in proc.stdout
    assert "grouping must be one of" in proc.stdout  # the failure's one-line reason
    with (sweep / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["job"], r["status"]) for r in rows] == [(ok.name, "ok"), (bad.name, "failed")]
    assert float(rows[0]["test/mIoU"]) >= 0 and rows[0]["set/block.grouping"] == "interleaved"
    # the job list written before the first job names exactly the folders the jobs ran in
    listed = yaml.safe_load((sweep / "jobs.yaml").read_text())
    assert [j["job"] for j in listed] == [ok.name, bad.name] and [j["num"] for j in listed] == [0, 1]


class InspectWandb(Callback):
    """Records what the W&B run looks like while the job trains."""

    seen: dict = {}

    def on_train_start(self, trainer, pl_module) -> None:
        run = trainer.logger.experiment
        InspectWandb.seen = {"tags": set(run.tags), "group": run.group, "offline": run.settings._offline}


def test_wandb_logger_is_offline_grouped_and_tagged(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = make_cfg("logger=wandb", "trainer.max_epochs=1", "experiment_name=ablation")
    run(cfg, output_dir=tmp_path / "job", callbacks=[InspectWandb()])
    seen = InspectWandb.seen
    assert seen["offline"] is True
    assert seen["group"] == "ablation"
    assert {"task:seg", "model:convnext_upernet", "binarizer:dab", "block:cfb"} <= seen["tags"]
    assert list((tmp_path / "job" / "wandb").glob("offline-run-*"))
    import wandb

    assert wandb.run is None  # the job finished its W&B run


def test_tensorboard_logger_writes_events(tmp_path):
    run(make_cfg("logger=tensorboard", "trainer.max_epochs=1"), output_dir=tmp_path)
    assert list(tmp_path.glob("events.out.tfevents.*"))


def test_the_job_list_of_a_paper_table_expands_its_rows_folder():
    # a table's sweep runs `+experiment/<table>: glob(*)`; the job list written before the first
    # job expands it as Hydra's sweeper does (one job per row file, named by it)
    from hydra import compose, initialize_config_dir

    from bnnbench.run.settings import CONFIG_PATH
    from bnnbench.run.sweep import job_list

    with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
        cfg = compose("config", overrides=["experiment=es_table6"], return_hydra_config=True)
        jobs = job_list(cfg)
    assert [j["job"] for j in jobs] == ["es_table6-baseline", "es_table6-es"]
    assert "+experiment/es_table6=es" in jobs[1]["overrides"]
