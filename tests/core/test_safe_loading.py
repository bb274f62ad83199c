"""Checkpoints and CIFAR batches cannot run code: crafted files (code on unpickle) are refused in one
line naming the file, on every path that reads one, and nothing in them runs."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bnnbench.core.checkpoint import UNSAFE_ENV, CheckpointError, load_checkpoint, read_state_dict
from bnnbench.data.cifar import read_batch
from bnnbench.run.schedule_check import schedule_length


class Crafted:
    """Unpickling this creates the file `marker` (a stand-in for any code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def crafted_checkpoint(tmp_path: Path) -> tuple[Path, Path]:
    """A Lightning-like checkpoint whose hyper-parameters run code when unpickled, and its marker."""
    marker, ckpt = tmp_path / "code-ran", tmp_path / "shared.ckpt"
    torch.save({"state_dict": {"model.w": torch.zeros(2)}, "epoch": 0, "hyper_parameters": Crafted(marker)}, ckpt)
    return ckpt, marker


def test_loader_refuses_a_crafted_checkpoint_in_one_line(tmp_path):
    ckpt, marker = crafted_checkpoint(tmp_path)
    for read in (lambda: load_checkpoint(ckpt, "init_from"), lambda: read_state_dict(ckpt, "teacher_ckpt"),
                 lambda: schedule_length(ckpt)):
        with pytest.raises(CheckpointError) as err:
            read()
        message = str(err.value)
        assert "\n" not in message and str(ckpt) in message and "io.open" in message
        assert UNSAFE_ENV in message
    assert not marker.exists()


def test_corrupt_file_is_named(tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"\xc8not a checkpoint")
    with pytest.raises(CheckpointError, match=r"ckpt_path=.*bad\.ckpt is not a readable checkpoint"):
        load_checkpoint(bad, "ckpt_path")


def test_own_checkpoints_and_state_dicts_still_load(tmp_path):
    state = {"model.conv.weight": torch.randn(3, 2, 1, 1), "model.conv.bias": torch.zeros(3)}
    torch.save({"state_dict": state, "epoch": 3, "hyper_parameters": {"lr": 0.1, "name": "x"}}, tmp_path / "a.ckpt")
    got = read_state_dict(tmp_path / "a.ckpt")
    assert set(got) == {"conv.weight", "conv.bias"} and torch.equal(got["conv.weight"], state["model.conv.weight"])


def test_the_opt_in_flag_is_explicit_and_does_run_code(tmp_path, monkeypatch):
    ckpt, marker = crafted_checkpoint(tmp_path)
    monkeypatch.setenv(UNSAFE_ENV, "1")
    assert load_checkpoint(ckpt)["epoch"] == 0
    assert marker.exists()  # what the flag's name warns of


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != UNSAFE_ENV}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_a_crafted_checkpoint_is_refused_by_the_command_in_one_line_and_exit_2(tmp_path):
    ckpt, marker = crafted_checkpoint(tmp_path)
    args = ["-m", "bnnbench", f"ckpt_path={ckpt}", "trainer.max_epochs=1", "trainer.enable_progress_bar=false",
            "logger=csv", f"hydra.run.dir={tmp_path / 'run'}"]
    done = _cli(args, tmp_path)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    errors = [ln for ln in done.stdout.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and str(ckpt) in errors[0] and "refused" in errors[0], done.stdout[-2000:]
    assert not marker.exists() and not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize("setting", ["init_from", "ckpt_path", "mode=test ckpt_path", "recipe.teacher_ckpt",
                                     "model.backbone_ckpt", "resume"])
def test_every_training_path_refuses_a_crafted_checkpoint(tmp_path, setting):
    """The seven checkpoint paths of a run (the CLI's one line and exit 2 are the test above's)."""
    from bnnbench.run.execute import run
    from tests.cli.conftest import TINY, make_cfg

    ckpt, marker = crafted_checkpoint(tmp_path)
    *extra, key = setting.split()
    if key == "resume":  # the job's own last.ckpt, swapped for a crafted one
        (tmp_path / "run" / "checkpoints").mkdir(parents=True)
        ckpt = ckpt.rename(tmp_path / "run" / "checkpoints" / "last.ckpt")
    value = "true" if key == "resume" else str(ckpt)
    task = {"recipe.teacher_ckpt": ["task=cls", "recipe.teacher={binarizer: {name: fp}}"], "model.backbone_ckpt": ["task=det"]}
    small = [] if key in task else TINY
    cfg = make_cfg(*small, *task.get(key, []), *extra, f"{key}={value}", "trainer.max_epochs=1", "logger=none",
                   tiny=False)
    named = "resume=true's last checkpoint" if key == "resume" else key
    with pytest.raises(CheckpointError, match=rf"{named}={ckpt} was refused: it holds io\.open"):
        run(cfg, output_dir=tmp_path / "run")
    assert not marker.exists()


# the same checkpoint reader refuses for both tools: the export one in the fast suite
@pytest.mark.parametrize("tool", ["bnnbench.export", pytest.param("bnnbench.analyze", marks=pytest.mark.slow)])
def test_export_and_analyze_refuse_with_exit_2(tmp_path, tool):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from bnnbench.run.settings import CONFIG_PATH

    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / ".hydra").mkdir()
    ckpt, marker = crafted_checkpoint(tmp_path / "run" / "checkpoints")
    with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
        OmegaConf.save(compose("config"), tmp_path / "run" / ".hydra" / "config.yaml")
    args = ["-m", tool, f"ckpt={ckpt}", f"out={tmp_path / 'out'}"]
    if tool == "bnnbench.analyze":
        args = ["-m", tool, f"ckpt={ckpt}", "what=entropy", f"out={tmp_path / 'out'}"]
    done = _cli(args, tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "refused" in lines[0], done.stderr[-2000:]
    assert not marker.exists()


def test_cifar_batches_are_read_without_running_code(tmp_path):
    marker = tmp_path / "code-ran"
    bad = tmp_path / "data_batch_1"
    with open(bad, "wb") as f:
        pickle.dump({b"data": Crafted(marker), b"labels": [0]}, f)
    with pytest.raises(ValueError, match=r"data_batch_1: refused, not a CIFAR batch \(it holds io\.open"):
        read_batch(bad, b"labels", 10)
    assert not marker.exists()
    good = tmp_path / "test_batch"
    with open(good, "wb") as f:  # the real format: numpy uint8 (N, 3072) and a list of ints
        pickle.dump({b"data": np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072), b"labels": [3, 7],
                     b"filenames": [b"a.png", b"b.png"]}, f)
    images, labels = read_batch(good, b"labels", 10)
    assert images.shape == (2, 3, 32, 32) and labels.tolist() == [3, 7]
