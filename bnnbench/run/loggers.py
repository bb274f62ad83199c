"""Experiment loggers named by the `logger` config group: csv (default), tensorboard, wandb."""

from __future__ import annotations

import netrc
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

LOGGERS = ("csv", "tensorboard", "wandb", "none")


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer deletes an existing metrics.csv; this one continues it."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as f:
                header = f.readline().strip()
            self.metrics_keys = sorted(k for k in header.split(",") if k)


class ResumableCSVLogger(CSVLogger):
    """A CSVLogger whose metrics.csv survives `resume=true`: the resumed job appends to it."""

    @property
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


def wandb_logged_in() -> bool:
    """True when W&B credentials exist (an API key in the environment or in ~/.netrc)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        auth = netrc.netrc().authenticators(os.environ.get("WANDB_BASE_URL", "api.wandb.ai").split("//")[-1])
    except (FileNotFoundError, netrc.NetrcParseError):
        return False
    return bool(auth and auth[2])


def build_logger(
    cfg: Mapping[str, Any],
    save_dir: Path,
    run_name: str,
    group: str,
    tags: Sequence[str],
    config: Mapping[str, Any],
) -> Logger | None:
    """The Lightning logger for one job; W&B runs offline unless the user is logged in."""
    name = cfg.get("name", "csv")
    if name == "none":
        return None
    if name == "csv":
        return ResumableCSVLogger(save_dir=str(save_dir), name="", version="")
    if name == "tensorboard":
        return TensorBoardLogger(save_dir=str(save_dir), name="", version="")
    if name == "wandb":
        from lightning.pytorch.loggers import WandbLogger

        mode = cfg.get("mode", "auto")
        offline = (not wandb_logged_in()) if mode == "auto" else mode == "offline"
        logger = WandbLogger(
            project=cfg.get("project", "bnnbench"),
            entity=cfg.get("entity"),
            name=run_name,
            group=group,
            tags=list(tags),
            save_dir=str(save_dir),
            offline=offline,
            config=dict(config),
            reinit="finish_previous",  # one W&B run per sweep job in the same process
        )
        return logger
    raise ValueError(f"unknown logger {name!r}: valid choices are {', '.join(LOGGERS)}")


def finish_logger(logger: Logger | None) -> None:
    """Close the logger's run (W&B needs an explicit finish at the end of each sweep job)."""
    if logger is None:
        return
    experiment = getattr(logger, "_experiment", None)
    if experiment is not None and hasattr(experiment, "finish"):
        experiment.finish()
