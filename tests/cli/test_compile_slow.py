"""compile=true trains the model compiled in place, with eager-compatible checkpoints (slow:
compiling takes minutes on a CPU)."""

import math

import pytest
import torch

from bnnbench.run.execute import run

from .conftest import make_cfg

FAST = ["trainer.max_epochs=1", "data.train_size=16", "data.val_size=8", "logger=none"]


@pytest.mark.slow
def test_compiled_training_matches_eager_checkpoint_layout(tmp_path):
    eager = run(make_cfg(*FAST), output_dir=tmp_path / "eager")
    compiled = run(make_cfg(*FAST, "compile=true"), output_dir=tmp_path / "compiled")
    assert eager["compile"] == "off" and compiled["compile"] == "default"
    assert math.isfinite(compiled["test/mIoU"])
    keys = [set(torch.load(r["last_checkpoint"], map_location="cpu", weights_only=False)["state_dict"])
            for r in (eager, compiled)]
    assert keys[0] == keys[1]  # no `_orig_mod.` prefix: a compiled run's checkpoint loads into an eager model
    # the same seed and data: compiled kernels may reorder float sums, not change the result materially
    assert compiled["test/mIoU"] == pytest.approx(eager["test/mIoU"], abs=0.05)
