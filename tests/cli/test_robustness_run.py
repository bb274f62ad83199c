"""mode=test under corruptions (issue: robustness track): a trained job tested on a grid writes
robust/<corruption>/<severity> and robust/mean into summary.json, severity 0 is the clean test to
the digit, and a bad corruption is named before any work."""

from __future__ import annotations

import json
import statistics

import pytest

from bnnbench.run.execute import run

from .conftest import make_cfg

FAST = ["task=cls", "model=resnet20", "trainer.max_epochs=1", "trainer.enable_progress_bar=false",
        "+trainer.limit_train_batches=20", "+trainer.limit_val_batches=2", "+trainer.limit_test_batches=2"]  # well above chance (0.64 clean)


def test_a_checkpoint_tested_on_a_grid_and_at_severity_0(tmp_path):
    trained = run(make_cfg(*FAST, tiny=False), output_dir=tmp_path / "train")
    ckpt = trained["best_checkpoint"]
    grid = run(make_cfg(*FAST, "mode=test", f"ckpt_path={ckpt}", "data.corruption=[impulse_noise,pixelate]",
                        "data.severity=[1,5]", tiny=False), output_dir=tmp_path / "grid")
    cells = {k: v for k, v in grid.items() if k.count("/") == 2 and k.startswith("robust/")}
    assert sorted(cells) == ["robust/impulse_noise/1", "robust/impulse_noise/5", "robust/pixelate/1", "robust/pixelate/5"]
    assert grid["robust/mean"] == pytest.approx(statistics.fmean(cells.values()))
    assert grid["robust/metric"] == "test/top1" and grid["robust/higher_is_better"] is True
    assert grid["test/top1"] == pytest.approx(trained["test/top1"], abs=1e-6)  # the clean test comes first
    assert cells["robust/impulse_noise/5"] < grid["test/top1"]  # the worst impulse noise costs accuracy
    saved = json.loads((tmp_path / "grid" / "summary.json").read_text())
    assert saved["robust/mean"] == grid["robust/mean"]
    logged = [line for line in (tmp_path / "grid" / "metrics.csv").read_text().splitlines()[1:] if line.strip(",")]
    assert len(logged) == 1  # the clean test; the cells are in summary.json, not repeated in metrics.csv
    clean = run(make_cfg(*FAST, "mode=test", f"ckpt_path={ckpt}", "data.corruption=fog", "data.severity=0", tiny=False),
                output_dir=tmp_path / "clean")
    assert clean["test/top1"] == trained["test/top1"] and not any(k.startswith("robust/") for k in clean)


def test_a_bad_corruption_is_named_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="data.corruption='blurr' is not a corruption: valid choices are all"):
        run(make_cfg(*FAST, "data.corruption=blurr", tiny=False), output_dir=tmp_path)
    assert not (tmp_path / "checkpoints").exists()


# each task on its default data (test tiles of at least 32 px, as the corruptions need), one
# epoch of a few batches; the test reads one batch per cell
EVERY_TASK = {
    "cls": ["task=cls", "model=resnet20"],
    "seg": ["task=seg", "model.dims=[8,16,16,16]", "model.depths=[1,1,1,1]", "model.decoder_channels=16",
            "model.head_channels=16", "data.train_size=16", "data.val_size=8", "data.test_size=8"],
    "depth": ["task=depth", "data.train_size=16", "data.val_size=8"],
    "det": ["task=det", "model.widths=[8,8,16,16]", "model.anchor_sizes=[16,32]", "model.rpn_post_nms_test=20",
            "data.train_size=8", "data.val_size=4", "data.test_size=4", "data.batch_size=4"],
    "sr": ["task=sr", "model.channels=8", "model.channel_mults=[1,2]", "model.res_blocks=1", "model.norm_groups=4",
           "data.train_size=8", "data.val_size=1", "data.test_size=2", "task.sample_steps=2"],
}
SHORT = ["trainer.max_epochs=1", "trainer.enable_progress_bar=false", "threads=1",
         "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1", "+trainer.limit_test_batches=1"]


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(EVERY_TASK))
def test_every_task_tests_a_checkpoint_on_the_whole_grid(task, tmp_path, capsys):
    trained = run(make_cfg(*EVERY_TASK[task], *SHORT, tiny=False), output_dir=tmp_path / "train")
    tested = run(make_cfg(*EVERY_TASK[task], *SHORT, "mode=test", f"ckpt_path={trained['best_checkpoint']}",
                          "data.corruption=all", tiny=False), output_dir=tmp_path / "grid")
    cells = [k for k in tested if k.startswith("robust/") and k.count("/") == 2]
    assert len(cells) == 75  # ImageNet-C: 15 corruptions x 5 severities
    out = capsys.readouterr().out
    assert "robustness 75/75: jpeg_compression/5" in out and "under corruption" in out
