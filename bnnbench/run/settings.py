"""A run's own settings, checked before any work: its keys, mode, threads, compile and processes."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig

from bnnbench.core.console import console
from bnnbench.core.registry import check_keys
from bnnbench.run import job, naming, recipe

CONFIG_PATH = str(job.CONFIG_DIR)
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


# what each logger takes besides its name (bnnbench.run.loggers.build_logger)
LOGGER_OPTIONS = {"csv": (), "none": (), "tensorboard": (), "wandb": ("project", "entity", "mode")}
# Trainer arguments bnnbench passes itself
TRAINER_SET = ("logger", "callbacks", "plugins", "default_root_dir")


def check_run_keys(cfg: DictConfig) -> None:
    """Unknown keys are refused, also those added with `+`: top-level keys, trainer, logger."""
    import inspect


    check_keys("the run's config", list(cfg), config_keys())
    trainer_args = [p for p in inspect.signature(L.Trainer.__init__).parameters if p not in ("self", *TRAINER_SET)]
    check_keys("trainer", list(cfg.get("trainer") or {}), trainer_args)
    logger = dict(cfg.get("logger") or {})
    name = str(logger.pop("name", "csv"))
    if name not in LOGGER_OPTIONS:
        raise ValueError(f"unknown logger {name!r}: valid choices are {', '.join(LOGGER_OPTIONS)}")
    check_keys(f"logger {name!r}", logger, LOGGER_OPTIONS[name])


def validate(cfg: DictConfig) -> None:
    """Fail on unknown names, unknown option keys and incompatible components before any work:
    the job's config and every config its recipe derives (its teacher's, its steps')."""
    _validate_one(cfg)
    if cfg.get("mode", "train") == "train":
        recipe.check(cfg, _validate_one)


def _validate_one(cfg: DictConfig) -> None:
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
    """`compile`: false (eager), true (= "default") or a torch.compile mode; None for eager."""
    if value is False or value is None:
        return None
    if value is True:
        return "default"
    if value not in COMPILE_MODES:
        raise ValueError(f"compile must be false, true or one of {', '.join(COMPILE_MODES)}, got {value!r}")
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
        raise ValueError(f"threads must be a positive integer or auto, got {threads!r}")
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



def global_rank() -> int:
    """This process's rank in a multi-process run (0 when there is one process)."""
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) or 0)
