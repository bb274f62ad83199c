"""Runs you can trust: job names, modes, threads, checkpoints, clear errors, nothing lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.core.override_parser.overrides_parser import OverridesParser

from bnnbench.callbacks import AtomicCheckpointIO, FiniteLoss, NonFiniteLossError
from bnnbench.callbacks.finite_loss import first_non_finite
from bnnbench.run import job, naming
from bnnbench.run.execute import run

from .conftest import make_cfg

FAST = ["trainer.max_epochs=2", "data.train_size=16", "data.val_size=8", "logger=none"]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "bnnbench", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=600)


def test_job_names_leave_out_paths_and_paste_back_unquoted(tmp_path):
    name = naming.job_name(["binarizer=dab", "data.root=/data/ADE", "model.dims=[8,16]", "+experiment/bidense_table4=fp",
                            "init_from=outputs/a/b.ckpt", "seed=1"])
    assert name == "bidense_table4-fp+binarizer-dab+model.dims-8_16+seed-1"
    # the same overrides in another order name the same folder (resume=true finds it)
    assert naming.job_name(["seed=1", "+experiment/bidense_table4=fp", "model.dims=[8,16]", "binarizer=dab"]) == name
    # a checkpoint path under such a folder is a valid unquoted override value
    path = f"outputs/default/{name}/checkpoints/best.ckpt"
    parsed = OverridesParser.create().parse_overrides([f"init_from={path}"])[0]
    assert parsed.value() == path
    # long names keep their start and differ by a stable hash
    long_a = naming.job_name([f"model.x{i}=1" for i in range(40)])
    long_b = naming.job_name([f"model.x{i}=2" for i in range(40)])
    assert len(long_a) <= naming.MAX_LEN and long_a != long_b
    assert long_a == naming.job_name([f"model.x{i}=1" for i in range(40)])


def test_mode_cost_needs_no_data_and_mode_test_evaluates_a_checkpoint(tmp_path):
    cost = run(make_cfg("mode=cost", "data=ade20k", "model=convnext_upernet", "cost_size=[64,64]", tiny=False))
    assert cost["mode"] == "cost" and cost["cost/bops"] > 0  # no data.root needed to count
    trained = run(make_cfg(*FAST), output_dir=tmp_path / "train")
    assert trained["torch_threads"] >= 1
    tested = run(make_cfg(*FAST, "mode=test", f"ckpt_path={trained['best_checkpoint']}"), output_dir=tmp_path / "test")
    assert tested["test/mIoU"] == pytest.approx(trained["test/mIoU"], abs=1e-6)
    with pytest.raises(ValueError, match="mode=test evaluates a checkpoint"):
        run(make_cfg(*FAST, "mode=test"), output_dir=tmp_path / "nothing")


def test_last_checkpoint_is_the_last_epoch_and_longer_runs_are_refused(tmp_path):
    first = run(make_cfg(*FAST), output_dir=tmp_path)
    last = torch.load(first["last_checkpoint"], map_location="cpu", weights_only=False)
    assert last["epoch"] == 1 and last["global_step"] == 2 * 2  # both epochs, whole (16 / batch 8 = 2 steps)
    # continuing the finished run re-trains nothing
    again = run(make_cfg(*FAST, f"ckpt_path={first['last_checkpoint']}"), output_dir=tmp_path / "again")
    assert again["test/mIoU"] == pytest.approx(first["test/mIoU"], abs=1e-6)
    with pytest.raises(ValueError, match="schedule spans 4 steps, this run asks for 8.*init_from="):
        run(make_cfg(*FAST, "trainer.max_epochs=4", "resume=true"), output_dir=tmp_path)


def test_a_failed_run_leaves_the_earlier_results_where_they_were(tmp_path):
    first = run(make_cfg(*FAST), output_dir=tmp_path)
    before = (tmp_path / "summary.json").read_text()

    class Boom(FiniteLoss):
        def on_train_batch_end(self, *args, **kwargs):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run(make_cfg(*FAST), output_dir=tmp_path, callbacks=[Boom()])
    assert (tmp_path / "summary.json").read_text() == before
    assert Path(first["best_checkpoint"]).is_file()
    assert not list(tmp_path.glob("previous-*"))


def test_generated_data_follow_their_own_seed_not_the_training_seed():
    a = job.build_datamodule(make_cfg("seed=1"))
    b = job.build_datamodule(make_cfg("seed=2"))
    c = job.build_datamodule(make_cfg("seed=1", "+data.seed=5"))
    for dm in (a, b, c):
        dm.setup("fit")
    assert torch.equal(a.test_set[0][0], b.test_set[0][0]) and not torch.equal(a.test_set[0][0], c.test_set[0][0])
    assert a.shuffle_seed == 1 and b.shuffle_seed == 2
    # test is held out: a split of its own, not the validation split
    assert a.test_set is not a.val_set and not torch.equal(a.test_set[0][0], a.val_set[0][0])


BAD_INPUT = [
    (["seed=abc"], "seed must be an integer, got 'abc'"),
    (["data=ade20k"], "required value not set: data.root"),
    (["+model.widht=2"], "model 'convnext_upernet' has no option 'widht': valid options are"),
    (["+binarizer.treshold=none"], "binarizer 'dab' does not take option 'treshold': valid options are threshold, scale"),
    (["task=cls", "model=bdnet_a", "+block.dual=none"], "block=auto uses model 'bdnet_a'"),
    (["block.grouping=windows"], "grouping must be one of"),
    (["compile=fast"], "compile must be false, true or one of default, reduce-overhead"),
    (["+binarizr=dab"], "the run's config has no option 'binarizr': valid options are data, model, binarizer"),
]
# the command line (a process each, ~7-9 s) for all of them in the slow suite; every message is
# asserted in-process below, on the same path the command takes, and the command's one line with
# exit status 2 in the fast suite by the missing-data-folder and crafted-checkpoint tests
FAST_CLI: set[int] = set()


@pytest.mark.parametrize("overrides, message", [
    pytest.param(o, m, marks=() if i in FAST_CLI else pytest.mark.slow) for i, (o, m) in enumerate(BAD_INPUT)
])
def test_bad_input_fails_before_any_work_in_one_line(overrides, message, tmp_path):
    proc = _cli(*overrides, "logger=none", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    assert message in " ".join(out.split()), out[-2000:]
    assert "Traceback" not in out
    assert not (tmp_path / "outputs").exists() or not list((tmp_path / "outputs").rglob("*.ckpt"))


@pytest.mark.parametrize("overrides, message", BAD_INPUT)
def test_bad_input_is_refused_by_the_run_before_any_work(overrides, message, tmp_path):
    # what `run` raises is what the command prints in one line (`bnnbench.core.errors.one_line`)
    from omegaconf.errors import MissingMandatoryValue

    from bnnbench.core.errors import one_line

    with pytest.raises((ValueError, MissingMandatoryValue)) as err:
        run(make_cfg(*overrides, "logger=none", tiny=False), output_dir=tmp_path / "job")
    assert message in " ".join(one_line(err.value).split())
    assert not list(tmp_path.rglob("*.ckpt"))


def test_checkpoints_are_written_atomically(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    target = tmp_path / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.ones(2)}}, target)
    assert torch.load(target)["state_dict"]["w"].sum() == 2 and not list(tmp_path.glob("*.tmp"))

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # a kill in the middle of writing
    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(2)}}, target)
    assert torch.load(target)["state_dict"]["w"].sum() == 2  # the earlier checkpoint is intact

    from lightning.pytorch.plugins.io import TorchCheckpointIO

    def disk_full(self, checkpoint, path, storage_options=None):
        Path(path).write_bytes(b"\0" * 4096)  # part of the file is written, then the disk is full
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(TorchCheckpointIO, "save_checkpoint", disk_full)
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(2)}}, target)
    assert not list(tmp_path.glob("*.tmp"))  # the partial temporary file is removed
    assert torch.load(target)["state_dict"]["w"].sum() == 2


def test_a_nan_loss_stops_the_job_naming_the_step_and_the_first_bad_layer():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    with torch.no_grad():
        model[1].weight.fill_(float("nan"))
    assert first_non_finite(model, (torch.ones(1, 2),)) == "1 (Linear)"

    class Trainer:
        global_step, current_epoch = 7, 1

    class Module(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

    with pytest.raises(NonFiniteLossError, match=r"loss is nan at step 7 \(epoch 1\).*first non-finite output: 1 \(Linear\)"):
        FiniteLoss().on_train_batch_end(Trainer(), Module(), torch.tensor(float("nan")), (torch.ones(1, 2),), 0)


# slow: a sweep's table and results.csv are checked in the fast suite by the launcher and failed-job
# sweeps, and names without the root path by test_job_names_leave_out_paths_and_paste_back_unquoted
@pytest.mark.slow
def test_sweep_on_a_real_layout_with_a_root_path_prints_its_table(tmp_path):
    from tests.data.test_ade20k import _write_ade

    root = tmp_path / "data" / "ADEChallengeData2016"
    _write_ade(root)
    proc = _cli("--multirun", "binarizer=bnn,dab", "data=ade20k", f"data.root={root}", "data.image_size=[32,32]",
                "data.batch_size=2", "data.val_holdout=0", "model.dims=[8,16,16,16]", "model.depths=[1,1,1,1]",
                "model.decoder_channels=8", "model.head_channels=8", "trainer.max_epochs=1", "logger=none",
                "trainer.enable_progress_bar=false", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweeps = list((tmp_path / "multirun" / "default").iterdir())
    assert len(sweeps) == 1  # each sweep in its own (time-stamped) folder
    results = (sweeps[0] / "results.csv").read_text().splitlines()
    assert len(results) == 3 and all(",ok," in r for r in results[1:])
    names = sorted(p.name for p in sweeps[0].iterdir() if p.is_dir())
    # the root path is left out of the name; this long one keeps its start and a hash
    assert [n.split("+")[:2] for n in names] == [["binarizer-bnn", "data-ade20k"], ["binarizer-dab", "data-ade20k"]]
    assert all(len(n) <= naming.MAX_LEN and "ADEChallenge" not in n for n in names)
    summary = json.loads(next(sweeps[0].glob("binarizer-dab*/summary.json")).read_text())
    assert summary["job"].startswith("binarizer-dab+") and "/" not in summary["job"]
    assert "binarizer" in proc.stdout and "dab" in proc.stdout


def test_parallel_launcher_runs_a_two_job_sweep(tmp_path):
    proc = _cli("--multirun", "hydra/launcher=parallel", "binarizer=bnn,dab", "threads=1", *FAST,
                "model.dims=[8,16,16,16]", "model.depths=[1,1,1,1]", "model.decoder_channels=8", "model.head_channels=8",
                "data.image_size=[32,32]", "trainer.enable_progress_bar=false", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Joblib" in proc.stdout + proc.stderr  # Hydra's joblib launcher ran the jobs
    rows = next((tmp_path / "multirun" / "default").iterdir()) / "results.csv"
    assert len(rows.read_text().splitlines()) == 3


def test_slurm_launcher_config_composes():
    from hydra import compose, initialize_config_dir

    from bnnbench.run.settings import CONFIG_PATH

    with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
        cfg = compose("config", overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu"],
                      return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert "submitit" in launcher._target_ and "Slurm" in launcher._target_
    assert launcher.gpus_per_node == 1 and launcher.partition == "gpu"


def test_a_corrupted_image_is_named_before_training(tmp_path, monkeypatch):
    from tests.data.test_ade20k import _write_ade

    monkeypatch.setenv("BNNBENCH_CACHE", str(tmp_path / "cache"))
    import importlib

    import bnnbench.data.scan as scan_module

    importlib.reload(scan_module)
    root = tmp_path / "ADEChallengeData2016"
    _write_ade(root)
    bad = sorted((root / "images" / "training").glob("*.jpg"))[0]
    bad.write_bytes(bad.read_bytes()[:40])  # truncated
    dm = job.build_datamodule(make_cfg("data=ade20k", f"data.root={root}", tiny=False))
    dm.setup("fit")
    with pytest.raises(scan_module.BadDataFile, match=f"cannot read {bad}"):
        scan_module.scan(dm, "ade20k")


def test_version_is_bnnbench_s(capsys, monkeypatch):
    import bnnbench
    from bnnbench import cli

    monkeypatch.setattr(sys, "argv", ["bnnbench", "--version"])
    cli.main()
    assert capsys.readouterr().out.strip() == f"bnnbench {bnnbench.__version__}"


def test_a_missing_data_folder_prints_the_whole_expected_layout(tmp_path):
    # the error is one line, then the layout the user must build, every folder of it
    from bnnbench.data.ade20k import LAYOUT

    proc = _cli("data=ade20k", f"data.root={tmp_path / 'nope'}", "logger=none", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [ln for ln in proc.stdout.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and errors[0].endswith("expected layout:"), proc.stdout[-2000:]
    flat = " ".join(proc.stdout.split())
    assert all(" ".join(line.split()) in flat for line in LAYOUT.splitlines() if line.strip())
    assert "Traceback" not in proc.stdout + proc.stderr
