"""Classification through the CLI: the issue's two example commands, on the default data."""

from __future__ import annotations

import pytest

from bnnbench.run.execute import run

from .conftest import make_cfg

FAST = ["trainer.max_epochs=1", "trainer.enable_progress_bar=false", "data.val_fraction=0.2",
        "+trainer.limit_train_batches=4", "+trainer.limit_val_batches=2", "+trainer.limit_test_batches=2"]


@pytest.mark.parametrize(
    "overrides",
    [
        ["task=cls", "model=bdnet_b", "binarizer=reactnet", "model.width_mult=0.125"],
        # 8x wide features: one training batch is enough for what this asserts
        ["task=cls", "model=resnet20", "block=es", "block.tau=4", "block.groups=2", "+trainer.limit_train_batches=1"],
    ],
)
def test_issue_commands_train_and_evaluate(overrides, tmp_path):
    given = {o.split("=")[0].lstrip("+") for o in overrides}
    fast = [f for f in FAST if f.split("=")[0].lstrip("+") not in given]  # an override replaces FAST's
    result = run(make_cfg(*overrides, *fast, tiny=False), output_dir=tmp_path)
    assert 0 <= result["test/top1"] <= result["test/top5"] <= 1
    assert result["cost/bops"] > 0


def test_es_keeps_the_base_models_bops(tmp_path):
    base = run(make_cfg("task=cls", *FAST, tiny=False), output_dir=tmp_path / "base")
    es = run(make_cfg("task=cls", "block=es", "block.tau=2", *FAST, tiny=False), output_dir=tmp_path / "es")
    assert es["cost/bops"] == base["cost/bops"]  # ES-BNN: binary MACs unchanged


def test_init_from_rejects_a_checkpoint_of_another_model(tmp_path):
    step1 = run(make_cfg("task=cls", "model=reactnet_a", *FAST, tiny=False), output_dir=tmp_path / "s1")
    with pytest.raises(ValueError, match="does not fit this run.s model"):
        run(make_cfg("task=cls", "model=resnet18", "model.width_mult=0.25", f"init_from={step1['best_checkpoint']}",
                     *FAST, tiny=False), output_dir=tmp_path / "other")
