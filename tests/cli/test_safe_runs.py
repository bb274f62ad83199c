"""Runs that never overwrite or misreport: mode=test in its own folder, job names independent of the
order of the overrides, one live process per job folder, sweeps that refuse an earlier sweep's
folder and name every job that did not finish."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bnnbench.run import sweep
from bnnbench.run.execute import run
from bnnbench.run.folder_lock import LOCK_NAME, FolderBusyError, FolderLock
from bnnbench.run.settings import validate

from .conftest import TINY, make_cfg

QUICK = [o for o in TINY if not o.startswith(("trainer.max_epochs", "data.train_size", "data.val_size"))] + [
    "trainer.max_epochs=1", "data.train_size=16", "data.val_size=8"]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "bnnbench", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=600)


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_mode_test_writes_its_own_folder_and_finds_the_job_in_any_override_order(tmp_path):
    """Issue items 5 and 10: the training files stay as they were; resume=true with the overrides
    in another order finds the same job's last.ckpt."""
    trained = _cli("seed=5", *QUICK, cwd=tmp_path)
    assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-2000:]
    (job,) = (tmp_path / "outputs" / "default").iterdir()
    before = _digests(job)
    tested = _cli("mode=test", "resume=true", *reversed(QUICK), "seed=5", cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout[-2000:] + tested.stderr[-2000:]
    assert "resuming from" in tested.stdout and "starting from scratch" not in tested.stdout
    after = _digests(job)
    assert {k: v for k, v in after.items() if not k.startswith("test-")} == before  # nothing touched
    (test_dir,) = job.glob("test-*")
    summary = json.loads((test_dir / "summary.json").read_text())
    trained_summary = json.loads((job / "summary.json").read_text())
    assert summary["mode"] == "test" and trained_summary["mode"] == "train"
    assert summary["test/mIoU"] == pytest.approx(trained_summary["test/mIoU"], abs=1e-6)
    assert (test_dir / ".hydra" / "config.yaml").is_file() and not (job / LOCK_NAME).exists()


def test_a_folder_held_by_a_live_process_is_refused_and_a_stale_lock_taken_over(tmp_path, capsys):
    """Issue item 7: a second process never writes into a held job folder."""
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": holder.pid, "host": os.uname().nodename, "since": "x"}))
        with pytest.raises(FolderBusyError, match=rf"in use by process {holder.pid} .*wait for it"):
            run(make_cfg(*QUICK, "logger=none"), output_dir=tmp_path)
        assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_NAME]  # nothing written
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone: its lock is taken over (said in one line), the run trains and lets go
    result = run(make_cfg(*QUICK, "logger=none"), output_dir=tmp_path)
    assert result["mode"] == "train" and not (tmp_path / LOCK_NAME).exists()
    assert f"from process {holder.pid}, which is no longer running" in capsys.readouterr().out


def test_the_lock_is_reentrant_in_one_process_and_released_by_its_creator(tmp_path):
    with FolderLock(tmp_path) as outer:
        with FolderLock(tmp_path):
            pass
        assert (tmp_path / LOCK_NAME).exists() and outer.owned  # the inner one did not release it
    assert not (tmp_path / LOCK_NAME).exists()


def _fake_sweep(root: Path) -> Path:
    """A sweep of three jobs killed during the second: one finished, one started, one never began."""
    jobs = [{"num": i, "job": f"seed-{i}", "overrides": [f"seed={i}"]} for i in range(3)]
    (root / sweep.JOB_LIST).write_text(yaml.safe_dump(jobs))
    done = root / "seed-0"
    (done / ".hydra").mkdir(parents=True)
    (done / ".hydra" / "overrides.yaml").write_text("- seed=0\n")
    (done / "summary.json").write_text(json.dumps({"mode": "train", "task": "seg", "model": "m", "binarizer": "dab",
                                                   "block": "cfb", "seed": 0, "test/mIoU": 0.5, "cost/params": 1,
                                                   "cost/ops": 1, "wall_time_s": 1.0}))
    (root / "seed-1" / ".hydra").mkdir(parents=True)
    (root / "seed-1" / ".hydra" / "overrides.yaml").write_text("- seed=1\n")
    return root


def test_an_interrupted_sweep_names_the_killed_job_and_the_one_never_started(tmp_path, capsys):
    """Issue item 6: `python -m bnnbench.run.sweep` reads the job list; exit 1 unless all finished."""
    assert sweep.main([str(_fake_sweep(tmp_path))]) == 1
    out = capsys.readouterr().out
    assert "incomplete seed-1" in out and "killed?" in out
    assert "not started seed-2" in out
    assert "1 of 3 jobs finished, 0 failed, 1 incomplete, 1 not started" in out
    rows = {r["job"]: r["status"] for r in sweep.collect(tmp_path)}
    assert rows == {"seed-0": "ok", "seed-1": "incomplete", "seed-2": "not started"}


def test_a_sweep_into_an_earlier_sweeps_folder_is_refused(tmp_path):
    """Issue item 4: the earlier sweep's results can never be reported as this sweep's."""
    (tmp_path / "sweep").mkdir()
    earlier = _fake_sweep(tmp_path / "sweep")
    before = _digests(earlier)
    proc = _cli("-m", "seed=0,1", *QUICK, f"hydra.sweep.dir={earlier}", cwd=tmp_path)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1 and "holds an earlier sweep (jobs.yaml)" in lines[0], proc.stdout + proc.stderr[-2000:]
    assert _digests(earlier) == before


@pytest.mark.parametrize("override, message", [
    ("+binarizr=dab", "the run's config has no option 'binarizr': valid options are data, model, binarizer"),
    ("+scheduler.pct_startt=0.3", "scheduler 'onecycle' has no option 'pct_startt'"),
    ("+optimizer.lrr=0.1", "optimizer 'adamw' has no option 'lrr': valid options are lr, betas"),
    ("+trainer.max_epoch=3", "trainer has no option 'max_epoch'"),
    ("+logger.project=x", "logger 'csv' has no option 'project': valid options are (none)"),
    ("+model.widht=2", "model 'convnext_upernet' has no option 'widht'"),
])
def test_misspelled_keys_added_with_plus_are_refused_with_the_closest_match(override, message):
    """Issue item 9: Hydra's `+` adds any key; bnnbench checks it against the component's options."""
    close = {"+binarizr=dab": "binarizer", "+scheduler.pct_startt=0.3": "pct_start", "+optimizer.lrr=0.1": "lr",
             "+trainer.max_epoch=3": "max_epochs"}
    with pytest.raises(ValueError) as err:
        validate(make_cfg(override))
    text = str(err.value)
    assert message in text and "\n" not in text
    if override in close:
        assert text.endswith(f"did you mean {close[override]!r}?")


def test_a_checkpoint_of_another_task_names_the_file_the_run_it_fits_and_this_run(tmp_path):
    """Issue item 11: not "Error(s) in loading state_dict for ClassificationTask: ..."."""
    from omegaconf import OmegaConf

    from bnnbench.core.checkpoint import CheckpointError

    seg_cfg = make_cfg(*QUICK, "logger=none")
    seg = run(seg_cfg, output_dir=tmp_path / "seg")
    (tmp_path / "seg" / ".hydra").mkdir()
    OmegaConf.save(seg_cfg, tmp_path / "seg" / ".hydra" / "config.yaml")  # what a Hydra-launched run writes
    cls_cfg = make_cfg("task=cls", "model=resnet20", "mode=test", f"ckpt_path={seg['last_checkpoint']}",
                       "logger=none", tiny=False)
    with pytest.raises(CheckpointError) as err:
        run(cls_cfg, output_dir=tmp_path / "cls")
    text = str(err.value)
    assert "\n" not in text and f"ckpt_path={seg['last_checkpoint']} does not fit this run's model" in text
    assert "(cls | resnet20 | reactnet | auto)" in text  # the run given (task=cls's defaults)
    assert "written by a run of task=seg model=convnext_upernet binarizer=dab block=cfb" in text  # the run it fits
    assert "missing model." in text and "unexpected model." in text


@pytest.mark.parametrize("module", ["bnnbench.export", "bnnbench.analyze", "bnnbench.report", "bnnbench.run.sweep"])
def test_every_entry_point_gives_one_line_and_exit_2_and_the_traceback_with_debug(module, tmp_path, capsys):
    """Issue item 11: user errors in every entry point, traceback behind --debug (each command's
    `python -m` main, called in-process)."""
    from bnnbench.analyze.command import main as analyze_main
    from bnnbench.core.errors import guarded
    from bnnbench.export.__main__ import main as export_main
    from bnnbench.report.command import main as report_main

    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    ckpt = tmp_path / "run" / "checkpoints" / "x.ckpt"
    ckpt.write_bytes(b"\xc8 not a checkpoint")
    mains = {"bnnbench.export": (export_main, [f"ckpt={ckpt}", f"out={tmp_path / 'o.pt'}"]),
             "bnnbench.analyze": (analyze_main, [f"ckpt={ckpt}", "what=entropy"]),
             "bnnbench.report": (lambda a: guarded(report_main, a), [str(_fake_sweep(tmp_path)), "--table", "nope"]),
             "bnnbench.run.sweep": (lambda a: guarded(sweep.main, a), [str(ckpt)])}  # a file, not a sweep folder
    main, args = mains[module]
    assert main(args) == 2
    captured = capsys.readouterr()
    lines = [ln for ln in (captured.out + captured.err).splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    if module in ("bnnbench.export", "bnnbench.analyze"):  # (no run config beside the file)
        assert str(tmp_path / "run") in lines[0]
        with pytest.raises(FileNotFoundError):  # --debug: the error itself, with its traceback
            main([*args, "--debug"])
