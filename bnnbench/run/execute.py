"""Train, test or count one job: the data module, model and task built by `job`, then Lightning.

`run(cfg)` is what `python -m bnnbench` runs per job (train: fit, then test the best checkpoint;
test: a checkpoint on the test split, with the corruption grid when asked; cost: the model's
cost only) and returns the summary it writes to the job's `summary.json`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, RichProgressBar
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from bnnbench.callbacks import (
    AtomicCheckpointIO,
    BinarizerSchedule,
    BinarizerStats,
    FiniteLoss,
    RNGState,
)
from bnnbench.core import complexity
from bnnbench.core.checkpoint import check_fits, load_checkpoint, load_weights, unsafe_load_allowed
from bnnbench.core.console import console
from bnnbench.core.registry import TASKS
from bnnbench.data.scan import scan
from bnnbench.run import job, recipe
from bnnbench.run.folder_lock import FolderLock
from bnnbench.run.loggers import build_logger, finish_logger
from bnnbench.run.outputs import EarlierRun, job_label, resolve_checkpoint
from bnnbench.run.robustness import print_grid, run_grid, test_metric
from bnnbench.run.schedule_check import check_continuation
from bnnbench.run.settings import (
    check_sync_batchnorm,
    compile_option,
    global_rank,
    processes,
    set_threads,
    validate,
)
from bnnbench.run.summary import human, print_cost, print_summary


def _cost(cfg: DictConfig, model: torch.nn.Module, info: Any) -> complexity.Cost:
    size = cfg.get("cost_size") or info.image_size
    return complexity.count(model, (info.in_channels, *size), elementwise=bool(cfg.get("cost_elementwise", False)))


def _identity(cfg: DictConfig, out: Path) -> dict[str, Any]:
    """What a job's summary.json names it by: its folder, task, model, binarizer, block and seed."""
    return {"job": job_label(out), "task": cfg.task.name, "model": cfg.model.name,
            "binarizer": cfg.binarizer.name, "block": cfg.block.name, "seed": cfg.seed}


def count_only(cfg: DictConfig) -> dict[str, Any]:
    """mode=cost: the model's Params/BOPs/FLOPs/OPs at `cost_size` (or the data's image size) with
    `cost_classes` classes (or the data's); in a sweep also written to the job's summary.json."""
    start = time.perf_counter()
    info = job.describe_data(cfg)
    model = job.build_model(cfg, info)
    cost = _cost(cfg, model, info)
    size = cfg.get("cost_size") or info.image_size
    print_cost(f"cost of {_label(cfg)} at {size[0]}x{size[1]}", cost)
    # only a task whose model runs several times per output is built (the others may read files)
    repeats = getattr(TASKS.get(cfg.task.name), "repeats_forward", False)
    per_output = _per_output(cfg, job.build_task(cfg, model, info), cost) if repeats else {}
    result = {"mode": "cost", **{f"cost/{k}": v for k, v in cost.summary().items()}, **per_output}
    if HydraConfig.initialized():  # a sweep's report reads each job's summary.json
        out = Path(HydraConfig.get().runtime.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        result = {**_identity(cfg, out), **result, "cost_size": list(size), "wall_time_s": time.perf_counter() - start}
        (out / "summary.json").write_text(json.dumps(result, indent=2))
    return result


def _per_output(cfg: DictConfig, task: Any, cost: complexity.Cost) -> dict[str, float]:
    """The cost per output of a model the task runs `forward_passes` times for one output (a
    diffusion sampler's steps), printed and returned as cost/per_output_*; {} for one pass."""
    passes = int(getattr(task, "forward_passes", 1))
    if passes <= 1:
        return {}
    work = {k: getattr(cost, k) * passes for k in ("bops", "flops", "bn_ops", "elementwise")}
    total = dataclasses.replace(cost, **work, layers=[])
    print_cost(f"cost per output of {_label(cfg)}: {passes} forward passes", total)
    return {"cost/per_output_bops": total.bops, "cost/per_output_flops": total.flops, "cost/per_output_ops": total.ops}


def _label(cfg: DictConfig) -> str:
    return f"{cfg.task.name} | {cfg.model.name} | {cfg.binarizer.name} | {cfg.block.name}"


def run(cfg: DictConfig, output_dir: str | Path | None = None, callbacks: list[Callback] | None = None) -> dict[str, Any]:
    """Run one job (train: fit, then test the best checkpoint; test; cost); print and return its summary."""
    start = time.perf_counter()
    validate(cfg)
    mode = cfg.get("mode", "train")
    if mode == "cost":
        return count_only(cfg)
    out = Path(output_dir or HydraConfig.get().runtime.output_dir)
    if mode == "train" and recipe.Recipe.of(cfg).staged:  # a teacher to train first, or several steps
        with FolderLock(out) if global_rank() == 0 else contextlib.nullcontext():
            return recipe.run_staged(cfg, out, functools.partial(_one, callbacks=callbacks), global_rank() == 0)
    return _one(cfg, out, callbacks, start)


def _one(cfg: DictConfig, out: Path, callbacks: list[Callback] | None = None, start: float | None = None) -> dict[str, Any]:
    """One training or test run of the (checked) `cfg` in the folder `out`."""
    start = time.perf_counter() if start is None else start
    trainer_cfg = job.plain(cfg.trainer)
    threads = set_threads(cfg.get("threads", "auto"), processes(trainer_cfg))
    check_sync_batchnorm(trainer_cfg)
    compile_mode = compile_option(cfg.get("compile", False))
    out.mkdir(parents=True, exist_ok=True)
    # one live process per job folder (DDP's other ranks run inside rank 0's hold)
    with FolderLock(out) if global_rank() == 0 else contextlib.nullcontext():
        return _fit_or_test(cfg, out, trainer_cfg, threads, compile_mode, callbacks, start)


def _fit_or_test(cfg: DictConfig, out: Path, trainer_cfg: dict[str, Any], threads: int, compile_mode: str | None,
                 callbacks: list[Callback] | None, start: float) -> dict[str, Any]:
    """mode=train or test in the (locked) folder `out`."""
    mode = cfg.get("mode", "train")
    ckpt = resolve_checkpoint(cfg, out)
    if mode == "test" and ckpt is None:
        raise ValueError("mode=test evaluates a checkpoint: give ckpt_path=<file> (or resume=true for this job's last one)")
    # an unsafe or unreadable checkpoint is refused in one line before any work
    what = "ckpt_path" if cfg.get("ckpt_path") else "resume=true's last checkpoint"
    ckpt_state = load_checkpoint(ckpt, what) if ckpt is not None else None
    grid = job.corruption_grid(cfg)  # the robustness cells (none: the clean test only)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    dm = job.build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("fit")  # a missing data file fails here, before training
    if cfg.get("scan_data", True):
        scan(dm, cfg.data.name)  # so does an unreadable image or a mismatched mask (once per data set)
    model = job.build_model(cfg, dm.info)
    # the recipe's trained teacher (mode=test scores the student alone)
    teacher = recipe.load_teacher(cfg, dm.info) if mode == "train" else None
    task = job.build_task(cfg, model, dm.info, teacher=teacher)
    if ckpt is not None:  # a checkpoint of another model: named before Lightning reads it
        weights = ckpt_state.get("state_dict", {}) if isinstance(ckpt_state, dict) else {}
        check_fits(task.state_dict(), weights, what, ckpt, _label(cfg))
    if cfg.get("init_from"):
        load_weights(model, cfg.init_from, "init_from", _label(cfg))
        console.print(f"initialised the model from {cfg.init_from}")
    cost = _cost(cfg, model, dm.info)
    print_cost(f"cost of {_label(cfg)} at {dm.image_size[0]}x{dm.image_size[1]}", cost)
    if compile_mode is not None:
        # in place (nn.Module.compile): parameter names and checkpoints stay those of eager runs
        model.compile(mode=compile_mode)
        console.print(f"torch.compile: mode {compile_mode} (the first steps compile, minutes on a CPU)")
    cost_row = {f"cost/{k}": v for k, v in cost.summary().items()}
    cost_row.update(_per_output(cfg, task, cost))

    if ckpt is not None and mode == "train":
        check_continuation(ckpt, cfg, len(dm.train_dataloader()), ckpt_state)
    ckpt_dir = out / "checkpoints"
    best = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=task.monitor, mode=task.monitor_mode)
    # last.ckpt at the end of each training epoch (after its validation), so it is that whole epoch
    last = ModelCheckpoint(dirpath=ckpt_dir, filename="last", save_top_k=1, monitor=None,
                           save_on_train_epoch_end=True, enable_version_counter=False)
    tags = [f"task:{cfg.task.name}", f"model:{cfg.model.name}", f"binarizer:{cfg.binarizer.name}", f"block:{cfg.block.name}"]
    earlier = EarlierRun(out)
    primary = global_rank() == 0  # DDP: only rank 0 moves files, writes the summary and prints it
    if ckpt is None and mode == "train" and primary:
        earlier.move_aside()
    logger = build_logger(
        job.plain(cfg.logger), out, run_name=out.name, group=cfg.experiment_name, tags=tags, config=job.plain(cfg)
    )
    progress = [RichProgressBar()] if trainer_cfg.get("enable_progress_bar", True) else []
    trainer = L.Trainer(
        **trainer_cfg,
        logger=logger if logger is not None else False,
        callbacks=[best, last, BinarizerSchedule(), BinarizerStats(), RNGState(), FiniteLoss(), *progress,
                   *(callbacks or [])],
        plugins=[AtomicCheckpointIO()],
        default_root_dir=str(out),
    )
    if logger is not None:
        logger.log_hyperparams(cost_row)
    # checkpoints are read weights-only (bnnbench.core.checkpoint): a shared file cannot run code
    safe = not unsafe_load_allowed()

    def test() -> list[dict[str, Any]]:
        """Test the run's weights: mode=train's best checkpoint (once trained), mode=test's ckpt_path."""
        weights = ("best" if best.best_model_path else None) if mode == "train" else ckpt
        return trainer.test(task, datamodule=dm, ckpt_path=weights, verbose=False, weights_only=safe)

    try:
        if mode == "train":
            trainer.fit(task, datamodule=dm, ckpt_path=ckpt, weights_only=safe)
        tested = test()
        robust = run_grid(functools.partial(_unlogged, trainer, test), dm, grid, test_metric(task.monitor),
                          task.monitor_mode == "max") if grid else {}
    except Exception as err:
        # a crash gives the earlier results back; an interrupt (Ctrl-C, SIGTERM) keeps this
        # run's files in place so that resume=true continues it
        if not isinstance(err, SIGTERMException) and primary:
            earlier.restore()
        raise
    finally:
        finish_logger(logger)
    metrics = {k: float(v) for k, v in (tested[0] if tested else {}).items()}
    wall = time.perf_counter() - start
    result = {
        **_identity(cfg, out),
        "mode": mode,
        **metrics,
        **robust,
        **cost_row,
        "wall_time_s": wall,
        "torch_threads": threads,
        "processes": trainer.world_size,
        "compile": compile_mode or "off",
        "best_checkpoint": best.best_model_path if mode == "train" else ckpt,
        "last_checkpoint": str(ckpt_dir / "last.ckpt") if mode == "train" else ckpt,
    }
    if trainer.global_rank != 0:  # the metrics are every rank's (synchronised); rank 0 reports them
        return result
    (out / "summary.json").write_text(json.dumps(result, indent=2))
    if robust:
        print_grid(robust, metrics.get(test_metric(task.monitor)))
    print_summary(
        f"summary: {_label(cfg)}" + (f" (test of {ckpt})" if mode == "test" else ""),
        metrics,
        cost,
        {**{f"{name} per output": human(cost_row[key]) for name, key in
            (("BOPs", "cost/per_output_bops"), ("FLOPs", "cost/per_output_flops")) if key in cost_row},
         "wall time": f"{wall:.1f} s", "torch threads": str(threads),
         "best checkpoint": str(result["best_checkpoint"] or "-"), "output": str(out)},
    )
    return result


def _unlogged(trainer: L.Trainer, test: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """`test()` with the trainer's loggers off: a robustness cell's metrics go to summary.json
    under robust/<corruption>/<severity>, not into metrics.csv as unnamed repeats of test/*."""
    loggers = trainer.loggers
    trainer.loggers = []
    try:
        return test()
    finally:
        trainer.loggers = loggers
