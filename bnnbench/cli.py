"""Hydra entry point: build data, model and task from the config groups, then train, test or count.

`python -m bnnbench task=seg binarizer=dab` (or the `bnnbench` script) runs one job;
`--multirun binarizer=bnn,dab` runs a sweep, one output folder per job; a failing job is
reported and the others go on, and the sweep exits non-zero. `mode=test` evaluates a
checkpoint on the test split, `mode=cost` prints the model's cost without data or training.
`python -m bnnbench list` names every registered method.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, RichProgressBar
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from bnnbench import complexity, job, naming, sweep
from bnnbench.callbacks import (
    AtomicCheckpointIO,
    BinarizerSchedule,
    BinarizerStats,
    FiniteLoss,
    RNGState,
)
from bnnbench.checkpoint import check_fits, load_checkpoint, load_weights, unsafe_load_allowed
from bnnbench.data.scan import scan
from bnnbench.errors import DEBUG_FLAG, DEBUG_HINT, debugging, layout_of, one_line
from bnnbench.folder_lock import FolderLock
from bnnbench.loggers import build_logger, finish_logger
from bnnbench.registry import TASKS
from bnnbench.robustness import print_grid, run_grid, test_metric
from bnnbench.schedule_check import check_continuation
from bnnbench.summary import console, human, print_cost, print_summary

CONFIG_PATH = str(Path(__file__).parent / "conf")
MODES = ("train", "test", "cost")
naming.register_resolver()


@functools.cache
def config_keys() -> list[str]:
    """The top-level keys a run's config may have: config.yaml's own keys and its config groups."""
    from omegaconf import OmegaConf

    primary = OmegaConf.load(Path(CONFIG_PATH) / "config.yaml")
    groups = []
    for entry in primary.get("defaults", []):
        key = next(iter(entry)) if isinstance(entry, dict) or hasattr(entry, "keys") else str(entry)
        groups.append(str(key).removeprefix("optional ").removeprefix("override ").split("@")[0])
    return [*(g for g in groups if g != "_self_"), *(k for k in primary if k not in ("defaults", "hydra"))]


# what each logger takes besides its name (bnnbench.loggers.build_logger)
LOGGER_OPTIONS = {"csv": (), "none": (), "tensorboard": (), "wandb": ("project", "entity", "mode")}
# trainer keys bnnbench reads itself, and Trainer arguments it passes itself
TRAINER_OWN = ("threads", "compile")
TRAINER_SET = ("logger", "callbacks", "plugins", "default_root_dir")


def check_run_keys(cfg: DictConfig) -> None:
    """Unknown keys are refused, also those added with `+`: top-level keys, trainer, logger."""
    import inspect

    from bnnbench.registry import check_keys

    check_keys("the run's config", list(cfg), config_keys())
    trainer_args = [p for p in inspect.signature(L.Trainer.__init__).parameters if p not in ("self", *TRAINER_SET)]
    check_keys("trainer", list(cfg.get("trainer") or {}), [*TRAINER_OWN, *trainer_args])
    logger = dict(cfg.get("logger") or {})
    name = str(logger.pop("name", "csv"))
    if name not in LOGGER_OPTIONS:
        raise ValueError(f"unknown logger {name!r}: valid choices are {', '.join(LOGGER_OPTIONS)}")
    check_keys(f"logger {name!r}", logger, LOGGER_OPTIONS[name])


def validate(cfg: DictConfig) -> None:
    """Fail on unknown names, unknown option keys and incompatible components before any work."""
    check_run_keys(cfg)
    mode = cfg.get("mode", "train")
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not a mode: valid choices are {', '.join(MODES)}")
    classes = cfg.get("cost_classes")
    if classes is not None and (not isinstance(classes, int) or isinstance(classes, bool) or classes < 1):
        raise ValueError(f"cost_classes must be a positive integer or null (the data's classes), got {classes!r}")
    job.check(cfg)


COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def compile_option(value: Any) -> str | None:
    """`trainer.compile`: false (eager), true (= "default") or a torch.compile mode; None for eager."""
    if value is False or value is None:
        return None
    if value is True:
        return "default"
    if value not in COMPILE_MODES:
        raise ValueError(f"trainer.compile must be false, true or one of {', '.join(COMPILE_MODES)}, got {value!r}")
    return value


def set_threads(threads: Any, processes: int = 1) -> int:
    """Set torch's intra-op threads: `auto` = the cores this process may run on, shared by the
    `processes` of a multi-process run; return the count.

    torch's own default counts the machine's cores even when fewer are ours (a container, a
    shared box, a CPU mask), and oversubscribed threads made runs several times slower; the
    count also changes a seeded run's floating-point sums, so every run records it.
    """
    if threads in (None, "auto"):
        available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        threads = max(1, available // max(1, processes))
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"trainer.threads must be a positive integer or auto, got {threads!r}")
    torch.set_num_threads(threads)
    return threads


def processes(trainer_cfg: dict[str, Any]) -> int:
    """How many processes a run's trainer starts on this machine: `trainer.devices` under a DDP
    strategy (a count or a list), else 1."""
    if "ddp" not in str(trainer_cfg.get("strategy", "auto")):
        return 1
    devices = trainer_cfg.get("devices", 1)
    if isinstance(devices, (list, tuple)):
        return max(1, len(devices))
    if isinstance(devices, str) and devices.strip().isdigit():
        devices = int(devices)
    return devices if isinstance(devices, int) and devices > 0 else 1


def check_sync_batchnorm(trainer_cfg: dict[str, Any]) -> None:
    """SyncBatchNorm runs on GPUs only: turned off (and said) for a CPU multi-process run."""
    if trainer_cfg.get("sync_batchnorm") and trainer_cfg.get("accelerator", "cpu") == "cpu":
        trainer_cfg["sync_batchnorm"] = False
        if global_rank() == 0:
            console.print("trainer.sync_batchnorm=false: SyncBatchNorm runs on GPUs only, so on the CPU each rank "
                          "normalises with its own batch statistics", soft_wrap=True)


class EarlierRun:
    """The results of an earlier run in the same folder: moved aside when a fresh run starts
    training, and moved back when that run fails."""

    FILES = ("checkpoints", "metrics.csv", "summary.json")

    def __init__(self, out: Path) -> None:
        self.out = out
        self.aside: Path | None = None

    def move_aside(self) -> None:
        """Move the earlier results to `previous-<time>/` (resume=true continues them instead)."""
        earlier = [self.out / f for f in self.FILES if (self.out / f).exists()]
        if not earlier:
            return
        self.aside = self.out / f"previous-{time.strftime('%Y%m%d-%H%M%S')}"
        self.aside.mkdir()
        for p in earlier:
            shutil.move(str(p), self.aside / p.name)
        console.print(f"fresh run: moved the earlier run's files to {self.aside} (resume=true continues instead)")

    def restore(self) -> None:
        """After a failed run: its partial files go to `failed-<time>/`, the earlier ones come back."""
        if self.aside is None:
            return
        failed = self.out / f"failed-{time.strftime('%Y%m%d-%H%M%S')}"
        for name in self.FILES:
            if (self.out / name).exists():
                failed.mkdir(exist_ok=True)
                shutil.move(str(self.out / name), failed / name)
        for p in self.aside.iterdir():
            shutil.move(str(p), self.out / p.name)
        self.aside.rmdir()
        console.print(f"the run failed: the earlier results are back in {self.out}")


def job_folder(out: Path, mode: str) -> Path:
    """The training job's folder: `out`, or its parent for a test run in `<job>/test-<time>/`."""
    return out.parent if mode == "test" and out.name.startswith(naming.TEST_PREFIX) else out


def resolve_checkpoint(cfg: DictConfig, out: Path) -> str | None:
    """The checkpoint to continue from: `ckpt_path`, or the job's last one when `resume=true`."""
    if cfg.get("ckpt_path"):
        path = Path(cfg.ckpt_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"ckpt_path={path} does not exist")
        return str(path)
    last = job_folder(out, cfg.get("mode", "train")) / "checkpoints" / "last.ckpt"
    if cfg.get("resume"):
        if last.is_file():
            console.print(f"[bold]resuming[/bold] from {last}")
            return str(last)
        console.print(f"resume=true but no {last}: starting from scratch")
    return None


def _job_name(out: Path) -> str:
    if HydraConfig.initialized():
        return naming.job_name(HydraConfig.get().overrides.task) or out.name
    return out.name


def _cost(cfg: DictConfig, model: torch.nn.Module, info: Any) -> complexity.Cost:
    size = cfg.get("cost_size") or info.image_size
    return complexity.count(model, (info.in_channels, *size), elementwise=bool(cfg.get("cost_elementwise", False)))


def _identity(cfg: DictConfig, out: Path) -> dict[str, Any]:
    """What a job's summary.json names it by: its folder, task, model, binarizer, block and seed."""
    return {"job": _job_name(out), "task": cfg.task.name, "model": cfg.model.name,
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
    trainer_cfg = job.plain(cfg.trainer)
    threads = set_threads(trainer_cfg.pop("threads", "auto"), processes(trainer_cfg))
    check_sync_batchnorm(trainer_cfg)
    compile_mode = compile_option(trainer_cfg.pop("compile", False))
    out = Path(output_dir or HydraConfig.get().runtime.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    # one live process per job folder (DDP's other ranks run inside rank 0's hold)
    with FolderLock(out) if global_rank() == 0 else contextlib.nullcontext():
        return _fit_or_test(cfg, out, trainer_cfg, threads, compile_mode, callbacks, start)


def global_rank() -> int:
    """This process's rank in a multi-process run (0 when there is one process)."""
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) or 0)


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
    task = job.build_task(cfg, model, dm.info)
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
    best = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=cfg.task.monitor, mode=cfg.task.mode)
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
    # checkpoints are read weights-only (bnnbench.checkpoint): a shared file cannot run code
    safe = not unsafe_load_allowed()

    def test() -> list[dict[str, Any]]:
        """Test the run's weights: mode=train's best checkpoint (once trained), mode=test's ckpt_path."""
        weights = ("best" if best.best_model_path else None) if mode == "train" else ckpt
        return trainer.test(task, datamodule=dm, ckpt_path=weights, verbose=False, weights_only=safe)

    try:
        if mode == "train":
            trainer.fit(task, datamodule=dm, ckpt_path=ckpt, weights_only=safe)
        tested = test()
        robust = run_grid(functools.partial(_unlogged, trainer, test), dm, grid, test_metric(cfg.task.monitor),
                          cfg.task.mode == "max") if grid else {}
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
        print_grid(robust, metrics.get(test_metric(cfg.task.monitor)))
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


def job_main(cfg: DictConfig) -> dict[str, Any] | None:
    """The Hydra task function: one job, errors reported as one line (a sweep records them)."""
    try:
        return run(cfg)
    except Exception as err:
        if HydraConfig.get().mode == RunMode.MULTIRUN:  # one failed sweep job must not stop the others
            out = Path(HydraConfig.get().runtime.output_dir)
            out.mkdir(parents=True, exist_ok=True)
            (out / "error.txt").write_text(traceback.format_exc())
            console.print(f"[bold red]job {out.name} failed:[/bold red] {type(err).__name__}: {one_line(err)}",
                          soft_wrap=True)
            return None
        if debugging():
            raise
        # user errors read as one line; the traceback stays one switch away
        console.print(f"[bold red]error:[/bold red] {one_line(err)}", highlight=False, soft_wrap=True)
        layout = layout_of(err)
        if layout is not None:  # printed in full: the user needs every folder name of it
            console.print(layout, highlight=False, markup=False, soft_wrap=True)
        console.print(DEBUG_HINT, style="dim", soft_wrap=True)
        sys.exit(2)


# decorated separately so that `job_main` stays importable by name: launchers that run jobs in
# other processes (joblib, submitit) pickle the task function by reference
_main = hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")(job_main)


def main() -> None:
    """Console-script entry point (`bnnbench ...` = `python -m bnnbench ...`)."""
    if sys.argv[1:2] == ["list"]:
        from bnnbench.catalog import print_catalog

        print_catalog()
        return
    if sys.argv[1:2] == ["--version"]:  # bnnbench's, not Hydra's
        import bnnbench

        print(f"bnnbench {bnnbench.__version__}")
        return
    if DEBUG_FLAG in sys.argv[1:]:  # not a Hydra override: tracebacks for every error
        sys.argv.remove(DEBUG_FLAG)
        os.environ["BNNBENCH_DEBUG"] = os.environ["HYDRA_FULL_ERROR"] = "1"
    _main()
    if sweep.FAILED_JOBS:
        sys.exit(1)
