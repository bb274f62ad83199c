"""Recipes: ReActNet's two steps (Liu et al. 2020, Sec. 4.1) distilled from a teacher trained once
and found again by every job that shares it; derived configs, the teacher's key, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from bnnbench.core.checkpoint import read_state_dict
from bnnbench.run import recipe
from bnnbench.run.execute import run
from bnnbench.run.folder_lock import LOCK_NAME
from bnnbench.run.settings import validate
from bnnbench.run.sweep import collect

from ..cli.conftest import make_cfg

FAST = ["task=cls", "model=reactnet_a", "model.width_mult=0.125", "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false", "data.val_fraction=0.2", "+trainer.limit_train_batches=3",
        "+trainer.limit_val_batches=1", "+trainer.limit_test_batches=1", "threads=1", "logger=none"]


def test_a_named_component_starts_from_its_file_and_a_nameless_node_merges():
    cfg = make_cfg(*FAST, "model.readout=mean", tiny=False)
    renamed = recipe.derive(cfg, {"model": {"name": "mobilenet_v1", "width_mult": 0.5}})
    # mobilenet_v1's own file, not reactnet_a's settings (readout=mean is gone)
    assert renamed.model.name == "mobilenet_v1" and renamed.model.width_mult == 0.5 and renamed.model.readout == "first"
    merged = recipe.derive(cfg, {"model": {"width_mult": 0.5}, "binarizer": {"weight": "identity"}})
    assert (merged.model.name, merged.model.readout, merged.model.width_mult) == ("reactnet_a", "mean", 0.5)
    assert merged.binarizer.name == "reactnet" and merged.binarizer.weight == "identity"
    assert merged.recipe.steps is None and merged.recipe.teacher is None  # a derived config is one plain step


def test_reactnet_steps_are_real_weights_then_binary_both_distilled():
    cfg = make_cfg(*FAST, "recipe=reactnet", tiny=False)
    one, two = recipe.step_configs(cfg)
    assert one.binarizer.weight == "identity" and one.optimizer.weight_decay == 1e-5  # ReActNet step 1
    assert "weight" not in two.binarizer and two.optimizer.weight_decay == 0.0  # step 2
    assert one.recipe.teacher == two.recipe.teacher == {"model": None, "binarizer": {"name": "fp"}, "block": {"name": "auto"}}
    teacher = recipe.teacher_config(cfg)
    assert (teacher.model.name, teacher.binarizer.name, teacher.block.name) == ("reactnet_a", "fp", "auto")
    assert teacher.model.width_mult == 0.125 and teacher.recipe.teacher is None
    # the job's init_from holds the student's weights: its first step starts from them, the teacher does not
    started = make_cfg(*FAST, "recipe=reactnet", "init_from=/student.ckpt", tiny=False)
    assert recipe.teacher_config(started).init_from is None
    assert recipe.step_configs(started)[0].init_from == "/student.ckpt"


def test_a_teacher_is_keyed_by_what_shapes_it():
    rows = [make_cfg(*FAST, "recipe=reactnet", *extra, tiny=False) for extra in
            ([], ["block=reactnet"], ["binarizer=adabin"], ["experiment_name=other", "logger=csv"],
              ["trainer.enable_progress_bar=true"])]
    keys = {recipe.teacher_key(recipe.teacher_config(c)) for c in rows}
    assert len(keys) == 1 and next(iter(keys)).startswith("reactnet_a-seed0-")  # the teacher replaces them all
    for other in (["seed=1"], ["threads=2"], ["trainer.max_epochs=2"], ["data.noise=0.1"]):
        changed = make_cfg(*FAST, "recipe=reactnet", *other, tiny=False)
        assert recipe.teacher_key(recipe.teacher_config(changed)) not in keys, other


class Seen(Callback):
    """Records, per training, the student's weights and the teacher's at the start of fitting."""

    def __init__(self) -> None:
        self.starts: list[tuple[dict, dict | None]] = []

    def on_fit_start(self, trainer, pl_module) -> None:
        teacher = getattr(pl_module, "teacher", None)
        copy = {k: v.detach().clone() for k, v in pl_module.model.state_dict().items()}
        self.starts.append((copy, None if teacher is None else {k: v.clone() for k, v in teacher.state_dict().items()}))


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _model_weights(path: str) -> dict:
    return {k.removeprefix("model."): v for k, v in read_state_dict(path, "test").items()}


def test_two_jobs_share_one_teacher_and_each_step_starts_from_the_last(tmp_path):
    seen = Seen()
    first = run(make_cfg(*FAST, "recipe=reactnet", tiny=False), output_dir=tmp_path / "a", callbacks=[seen])
    teachers = list((tmp_path / "teachers").iterdir())
    assert len(teachers) == 1 and first["teacher_checkpoint"].startswith(str(teachers[0]))
    assert first["recipe"] == "reactnet" and first["steps"] == [str(tmp_path / "a" / "step1"), str(tmp_path / "a")]
    (teacher_start, no_teacher), (step1_start, t1), (step2_start, t2) = seen.starts
    assert no_teacher is None  # the teacher itself trains without one
    trained = _model_weights(first["teacher_checkpoint"])
    assert _same(t1, trained) and _same(t2, trained)  # both steps distil from the trained teacher
    assert _same(step2_start, _model_weights(str(tmp_path / "a" / "step1" / "checkpoints" / "last.ckpt")))
    step1 = json.loads((tmp_path / "a" / "step1" / "summary.json").read_text())
    assert step1["cost/bops"] == 0 and first["cost/bops"] > 0  # step 1: real weights; step 2: binary
    # a second job with the same teacher settings finds it: no third teacher training
    second = run(make_cfg(*FAST, "recipe=reactnet", "block=reactnet", tiny=False), output_dir=tmp_path / "b",
                 callbacks=[seen])
    assert second["teacher_checkpoint"] == first["teacher_checkpoint"] and len(seen.starts) == 5
    # the steps and the teacher are parts of jobs: a sweep's listing shows the two jobs only
    assert sorted(r["job"] for r in collect(tmp_path)) == ["a", "b"]


def test_resume_skips_a_finished_step(tmp_path):
    cfg = make_cfg(*FAST, "recipe=reactnet", tiny=False)
    run(cfg, output_dir=tmp_path / "a")
    step1 = tmp_path / "a" / "step1" / "summary.json"
    before = step1.stat().st_mtime_ns
    (tmp_path / "a" / "summary.json").unlink()  # as if killed during step 2
    seen = Seen()
    again = run(make_cfg(*FAST, "recipe=reactnet", "resume=true", tiny=False), output_dir=tmp_path / "a", callbacks=[seen])
    assert step1.stat().st_mtime_ns == before and len(seen.starts) == 1  # step 2 only; the teacher was found
    assert again["steps"] == [str(tmp_path / "a" / "step1"), str(tmp_path / "a")]


def test_a_job_waits_for_the_process_that_trains_its_teacher(tmp_path, monkeypatch):
    cfg = make_cfg(*FAST, "recipe=reactnet", tiny=False)
    folder = tmp_path / "teachers" / recipe.teacher_key(recipe.teacher_config(cfg))
    folder.mkdir(parents=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    (folder / LOCK_NAME).write_text(json.dumps({"pid": other.pid, "host": __import__("socket").gethostname()}))
    monkeypatch.setattr(recipe, "WAIT_S", 0.05)

    def finish() -> None:  # the other process ends, leaving its teacher
        time.sleep(0.3)
        (folder / "summary.json").write_text(json.dumps({"best_checkpoint": "/the/teacher.ckpt"}))
        other.kill()
        other.wait()

    threading.Thread(target=finish).start()
    trained = []
    assert recipe.trained_teacher(cfg, tmp_path / "teachers", lambda c, f: trained.append(f), tmp_path / "job") \
        == "/the/teacher.ckpt"
    assert trained == []  # waited, then found it: not trained twice


def test_the_other_ranks_of_a_ddp_job_train_the_teacher_beside_rank_0(tmp_path):
    # rank 0 holds the teacher's lock while it trains; a rank that waited for it would never join
    cfg = make_cfg(*FAST, "recipe=reactnet", tiny=False)
    folder = tmp_path / "teachers" / recipe.teacher_key(recipe.teacher_config(cfg))
    folder.mkdir(parents=True)
    (folder / LOCK_NAME).write_text(json.dumps({"pid": __import__("os").getpid(), "host": "rank-0's"}))
    trained = []
    best = recipe.trained_teacher(cfg, tmp_path / "teachers", lambda c, f: trained.append(f) or {"best_checkpoint": "b"},
                                  tmp_path / "job", primary=False)
    assert best == "b" and trained == [folder] and (folder / LOCK_NAME).is_file()  # the lock stays rank 0's


@pytest.mark.parametrize(("overrides", "message"), [
    (["task=seg", "recipe=reactnet"], r"recipe 'reactnet' distils from a teacher, but task 'seg' takes none: tasks that do are cls"),
    (["recipe=reactnet", "recipe.teacher.model={name: resnet99}"], r"model 'resnet99' has no config file: valid choices are .*reactnet_a"),
    (["recipe=reactnet", "recipe.teacher.model={name: resnet20, depth: 3}"], r"depth"),
    (["recipe=reactnet", "+recipe.epochs=3"], r"recipe.*epochs.*valid.*name, steps, teacher, teacher_ckpt"),
    (["recipe.steps=3"], r"recipe.steps must be a list of mappings"),
    (["recipe=reactnet", "ckpt_path=/x.ckpt"], r"ckpt_path continues one training.*resume=true"),
])
def test_bad_recipes_are_named_before_any_work(overrides, message, tmp_path):
    seg = "task=seg" in overrides  # the default segmentation job, not the classification one
    cfg = make_cfg(*overrides, tiny=True) if seg else make_cfg(*FAST, *overrides, tiny=False)
    with pytest.raises(ValueError, match=message):
        validate(cfg)
    assert not any(tmp_path.iterdir())
