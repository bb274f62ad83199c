"""task=det through the CLI behaves as the other tasks: resume reproduces an uninterrupted run,
and a sweep collects its jobs."""

from __future__ import annotations

import pytest

from bnnbench.run.execute import run

from .conftest import make_cfg
from .test_run import KillAfterEpoch, Killed

DET = ["task=det", "trainer.enable_progress_bar=false", "logger=csv", "threads=1",
       "model.widths=[8,8,16,16]", "model.anchor_sizes=[16,32]", "model.rpn_post_nms_test=20",
       "data.train_size=8", "data.val_size=4", "data.test_size=4", "data.batch_size=4", "data.image_size=[64,64]",
       "trainer.max_epochs=3"]


def test_det_resume_reaches_the_same_scores_as_an_uninterrupted_run(tmp_path):
    full = run(make_cfg(*DET, tiny=False), output_dir=tmp_path / "full")
    with pytest.raises(Killed):
        run(make_cfg(*DET, tiny=False), output_dir=tmp_path / "killed", callbacks=[KillAfterEpoch(1)])
    resumed = run(make_cfg(*DET, "resume=true", tiny=False), output_dir=tmp_path / "killed")
    assert resumed["test/mAP"] == pytest.approx(full["test/mAP"], abs=1e-6)
    assert resumed["cost/bops"] == full["cost/bops"] > 0
