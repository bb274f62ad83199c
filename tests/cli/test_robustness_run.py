"""mode=test under corruptions (issue: robustness track): a trained job tested on a grid writes
robust/<corruption>/<severity> and robust/mean into summary.json, severity 0 is the clean test to
the digit, and a bad corruption is named before any work."""

from __future__ import annotations

import json
import statistics

import pytest

from bnnbench.cli import run

from .conftest import make_cfg

FAST = ["task=cls", "model=resnet20", "trainer.max_epochs=1", "trainer.enable_progress_bar=false",
        "+trainer.limit_train_batches=4", "+trainer.limit_val_batches=2", "+trainer.limit_test_batches=2"]


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
    clean = run(make_cfg(*FAST, "mode=test", f"ckpt_path={ckpt}", "data.corruption=fog", "data.severity=0", tiny=False),
                output_dir=tmp_path / "clean")
    assert clean["test/top1"] == trained["test/top1"] and not any(k.startswith("robust/") for k in clean)


def test_a_bad_corruption_is_named_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="data.corruption='blurr' is not a corruption: valid choices are all"):
        run(make_cfg(*FAST, "data.corruption=blurr", tiny=False), output_dir=tmp_path)
    assert not (tmp_path / "checkpoints").exists()
