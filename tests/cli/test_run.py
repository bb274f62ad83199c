"""The training loop end to end through the CLI's config: runs, learns, resumes, reports."""

from __future__ import annotations

import csv
import json
from collections import defaultdict

import pytest
from lightning.pytorch.callbacks import Callback

from bnnbench import data
from bnnbench.core.registry import UnknownNameError
from bnnbench.run.execute import run

from .conftest import make_cfg


def metric_rows(out) -> list[dict[str, str]]:
    """The rows of the CSV logger's metrics.csv."""
    with (out / "metrics.csv").open() as f:
        return list(csv.DictReader(f))


def train_losses(out) -> list[float]:
    """Per-epoch mean training loss from metrics.csv."""
    per_epoch = defaultdict(list)
    for row in metric_rows(out):
        if row.get("train/loss"):
            per_epoch[int(row["epoch"])].append(float(row["train/loss"]))
    return [sum(v) / len(v) for _, v in sorted(per_epoch.items())]


@pytest.mark.parametrize("binarizer", ["fp", "bnn", "reactnet", "adabin", "bisrnet", "dab"])
def test_loss_falls_for_every_binarizer(binarizer, tmp_path):
    cfg = make_cfg(f"binarizer={binarizer}", "trainer.max_epochs=3", "optimizer.lr=3e-3")
    result = run(cfg, output_dir=tmp_path)
    losses = train_losses(tmp_path)
    assert len(losses) == 3 and losses[-1] < losses[0], losses
    assert 0 <= result["test/mIoU"] <= 1
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "checkpoints" / "best.ckpt").is_file()
    assert json.loads((tmp_path / "summary.json").read_text())["binarizer"] == binarizer


def test_default_model_and_data_beat_a_constant_predictor(tmp_path):
    # the default job's model, data and recipe, for fewer epochs than `make run`
    cfg = make_cfg("trainer.max_epochs=5", "trainer.enable_progress_bar=false", tiny=False)
    result = run(cfg, output_dir=tmp_path)
    d = cfg.data
    dm = data.build("gen_seg", image_size=d.image_size, num_classes=d.num_classes,
                    train_size=d.train_size, val_size=d.val_size, seed=cfg.seed)
    dm.setup("fit")
    baseline = dm.constant_baseline()
    assert result["test/mIoU"] > baseline["miou"] + 0.25, (result, baseline)
    assert result["cost/bops"] > 0 and result["cost/params"] < result["cost/real_params"] + result["cost/binary_params"]


def test_depth_task_runs_and_beats_the_median_predictor(tmp_path):
    # 128 training images: the test split is held out, so 64 did not generalise past the median
    cfg = make_cfg("task=depth", "data=gen_depth", "trainer.max_epochs=6", "optimizer.lr=3e-3",
                   "data.train_size=128")
    result = run(cfg, output_dir=tmp_path)
    dm = data.build("gen_depth", image_size=[32, 32], train_size=128, val_size=16, seed=0)
    dm.setup("fit")
    baseline = dm.constant_baseline()
    assert result["test/abs_rel"] < baseline["abs_rel"], (result, baseline)


class Killed(Exception):
    """Stands for the process being killed."""


class KillAfterEpoch(Callback):
    """Raises at the end of epoch `epoch`, after its checkpoint was written."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            raise Killed


def test_resume_reaches_the_same_metrics_as_an_uninterrupted_run(tmp_path):
    overrides = ["trainer.max_epochs=3", "binarizer=dab"]
    full = run(make_cfg(*overrides), output_dir=tmp_path / "full")
    with pytest.raises(Killed):
        run(make_cfg(*overrides), output_dir=tmp_path / "killed", callbacks=[KillAfterEpoch(1)])
    assert (tmp_path / "killed" / "checkpoints" / "last.ckpt").is_file()
    resumed = run(make_cfg(*overrides, "resume=true"), output_dir=tmp_path / "killed")
    assert resumed["test/mIoU"] == pytest.approx(full["test/mIoU"], abs=1e-6)
    assert resumed["test/pixel_acc"] == pytest.approx(full["test/pixel_acc"], abs=1e-6)
    trained = {int(r["epoch"]) for r in metric_rows(tmp_path / "killed") if r.get("train/loss")}
    assert trained == {0, 1, 2}  # the log of the resumed job covers the epochs before the kill


def test_unknown_names_fail_before_any_work(tmp_path):
    with pytest.raises(UnknownNameError, match="did you mean 'dab'"):
        run(make_cfg("binarizer.name=dabb"), output_dir=tmp_path)
    with pytest.raises(ValueError, match="threshold"):
        run(make_cfg("binarizer.threshold=median"), output_dir=tmp_path)
    assert not (tmp_path / "checkpoints").exists()


def test_missing_dataset_folder_names_the_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="ADEChallengeData2016|images/training"):
        run(make_cfg("data=ade20k", f"data.root={tmp_path / 'nowhere'}", "data.num_workers=0", tiny=False),
            output_dir=tmp_path)


def test_smp_model_through_the_cli(tmp_path):
    cfg = make_cfg("model=smp", "model.encoder_name=resnet18", "+model.options.decoder_channels=[16,16,8,8,8]",
                   "data.train_size=16", "data.val_size=8", "data.image_size=[32,32]", "trainer.max_epochs=1",
                   "trainer.enable_progress_bar=false", tiny=False)
    result = run(cfg, output_dir=tmp_path)
    assert result["model"] == "smp" and result["cost/bops"] > 0 and 0 <= result["test/mIoU"] <= 1
