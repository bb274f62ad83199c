"""`python -m bnnbench.analyze` end to end on a checkpoint of a tiny trained run, and its refusals."""

from __future__ import annotations

import csv
import runpy
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from bnnbench.analyze.command import main
from bnnbench.run import job
from bnnbench.run.execute import run
from bnnbench.run.settings import CONFIG_PATH

TINY = [
    "task=cls", "data=gen_cls", "model=resnet20", "model.widths=[4,8,8]", "model.depths=[1,1,1]",
    "data.train_size=4", "data.val_size=2", "data.test_size=2", "data.batch_size=2", "data.image_size=[16,16]",
    "trainer.max_epochs=1", "trainer.enable_progress_bar=false", "threads=1", "logger=none",
]
QUICK = ["batches=1", "top_k=2", "tol=0.1", "resolution=3", "threads=1"]
PNG = b"\x89PNG\r\n\x1a\n"


def compose_cfg(*overrides: str):
    with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
        return compose("config", overrides=[*TINY, *overrides])


def save_run(cfg, run_dir: Path) -> None:
    """What a Hydra-launched run leaves next to its checkpoints."""
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A DAB + ES run trained for two steps: its last checkpoint."""
    cfg = compose_cfg("binarizer=dab", "block=es", "block.base=bireal")
    run_dir = tmp_path_factory.mktemp("analyze") / "run"
    run(cfg, output_dir=run_dir)
    save_run(cfg, run_dir)
    return run_dir / "checkpoints" / "last.ckpt"


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


# runpy warns because this process imported bnnbench.analyze already; `python -m` does not
@pytest.mark.filterwarnings("ignore:'bnnbench.analyze' found in sys.modules")
def test_every_analysis_writes_its_csv_and_png(trained, tmp_path, monkeypatch, capsys):
    out = tmp_path / "analysis"
    monkeypatch.setattr(sys, "argv", ["bnnbench.analyze", f"ckpt={trained}", "what=all", f"out={out}", *QUICK])
    runpy.run_module("bnnbench.analyze", run_name="__main__")  # = python -m bnnbench.analyze ...
    captured = capsys.readouterr()
    printed = captured.err  # progress goes to stderr, the written files to stdout
    assert f"written to {out}" in captured.out
    # not a terminal: progress comes as plain lines (rich's bar would print nothing until the end)
    assert "landscape: started (12 steps)" in printed and "landscape: 12/12 after" in printed
    assert "hessian (top 2" in printed
    for name in ("entropy", "dab_params", "hessian", "landscape_1d", "landscape_2d", "capacity", "replicas"):
        assert (out / f"{name}.png").read_bytes()[:8] == PNG, name
        assert rows(out / f"{name}.csv"), name
    entropy = rows(out / "entropy.csv")
    assert all(0.0 <= float(r["entropy_channel_mean"]) <= 1.0 for r in entropy) and entropy[0]["split"] == "val"
    eigen = [float(r["eigenvalue"]) for r in rows(out / "hessian.csv")]
    assert len(eigen) == 2 and eigen[0] >= eigen[1]
    assert len(rows(out / "landscape_1d.csv")) == 3 and len(rows(out / "landscape_2d.csv")) == 9
    capacity = rows(out / "capacity.csv")
    assert any(r["es"] == "True" and int(r["capacity_without_es"]) < int(r["capacity"]) for r in capacity)
    assert all(0.0 <= float(r["mean_abs_corr"]) <= 1.0 + 1e-9 for r in rows(out / "replicas.csv"))
    assert {r["param"] for r in rows(out / "dab_params.csv")} == {"k", "b", "a"}


def test_landscape_centre_equals_the_checkpoints_loss(trained, tmp_path, capsys):
    from bnnbench.analyze.context import load_context, mean_loss

    out = tmp_path / "landscape"
    assert main([f"ckpt={trained}", "what=landscape", f"out={out}", *QUICK]) == 0
    ctx = load_context(trained)
    expected = mean_loss(ctx.loss, ctx.batches("train", 1))
    line = rows(out / "landscape_1d.csv")
    assert float(line[1]["alpha"]) == 0.0 and float(line[1]["loss"]) == pytest.approx(expected, rel=1e-6)


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory) -> Path:
    """An untrained bnn run (no DAB, no ES) saved as a checkpoint of its own."""
    cfg = compose_cfg("binarizer=bnn")
    run_dir = tmp_path_factory.mktemp("analyze") / "plain"
    job.check(cfg)  # also fills the registries
    model = job.build_model(cfg, job.build_datamodule(cfg).info)
    (run_dir / "checkpoints").mkdir(parents=True)
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}}, run_dir / "checkpoints" / "x.ckpt")
    save_run(cfg, run_dir)
    return run_dir / "checkpoints" / "x.ckpt"


@pytest.mark.parametrize(("what", "message"), [
    ("dab_params", "what=dab_params needs DAB binarizers"),
    ("entropy,replicas", "what=replicas needs ES layers"),
])
def test_analysis_the_model_cannot_take_is_refused_before_any_work(plain_run, tmp_path, capsys, what, message):
    out = tmp_path / "never"
    assert main([f"ckpt={plain_run}", f"what={what}", f"out={out}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists()


@pytest.mark.parametrize(("argv", "message"), [
    (["what=entropy"], "missing ckpt"),
    (["ckpt=/nope.ckpt", "what=entropy"], "ckpt=/nope.ckpt does not exist"),
    (["ckpt={ckpt}", "what=entropy,curvature"], "unknown analysis 'curvature'; valid choices are entropy, dab_params"),
    (["ckpt={ckpt}", "what=landscape", "resolution=4"], "resolution=4 must be odd"),
    (["ckpt={ckpt}", "what=entropy", "split=dev"], "split='dev' is not valid"),
    (["ckpt={ckpt}", "what=entropy", "colour=red"], "bad argument 'colour=red'"),
])
def test_bad_input_is_one_line_and_exit_2(plain_run, capsys, argv, message):
    assert main([a.format(ckpt=plain_run) for a in argv]) == 2
    assert message in capsys.readouterr().err.splitlines()[0]
