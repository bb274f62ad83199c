"""What every analysis reads: the run's model and task rebuilt from its checkpoint, a few batches
of one split, and the training loss of a batch."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.utilities.apply_func import move_data_to_device
from torch import Tensor, nn

from bnnbench.analyze import AnalysisUnavailable
from bnnbench.run import job
from bnnbench.run.run_model import load_run_model
from bnnbench.tasks.base import BaseTask

SPLITS = ("train", "val", "test")


@dataclass
class Options:
    """The command line's settings shared by the analyses (defaults: `bnnbench.analyze.command`)."""

    out: Path
    split: str | None = None  # None: each analysis's own default split
    batches: int | None = 4  # None: the whole split
    top_k: int = 10
    tol: float = 1e-3
    resolution: int = 11
    span: float = 1.0
    seed: int = 0
    tau: int | None = None


@dataclass
class RunContext:
    """A run's model (eval mode, checkpoint weights), its task (the loss) and its data module."""

    model: nn.Module
    task: Any
    datamodule: Any
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    _cache: dict[tuple[str, int | None], list[Any]] = field(default_factory=dict)

    def stream(self, split: str, n: int | None) -> tuple[int, Iterator[Any]]:
        """(how many, the batches): the first `n` batches of `split` (all when None) on the device, one at a time."""
        self.datamodule.setup("fit" if split in ("train", "val") else "test")
        loader = getattr(self.datamodule, f"{split}_dataloader")()
        count = len(loader) if n is None else min(n, len(loader))
        return count, (move_data_to_device(b, self.device) for b in itertools.islice(loader, count))

    def batches(self, split: str, n: int | None) -> list[Any]:
        """The batches of `stream`, kept: every later call sees the same (the loss-based analyses)."""
        if (split, n) not in self._cache:
            self._cache[(split, n)] = list(self.stream(split, n)[1])
        return self._cache[(split, n)]

    def loss(self, batch: Any) -> Tensor:
        """The task's training loss of `batch` (its criterion on its prediction)."""
        return batch_loss(self.task, batch)

    def forward(self, batch: Any) -> Any:
        """The model's prediction for `batch` (no loss: every task predicts in eval mode)."""
        image, target = batch
        return self.task.predict(image, target)


def check_loss(task: Any, what: str) -> None:
    """Raise AnalysisUnavailable when the task has no loss in eval mode (detection: training mode only)."""
    if getattr(task, "model_output", "") == "detections":
        raise AnalysisUnavailable(
            f"what={what} needs a training loss in eval mode: task {type(task).__name__} computes its "
            "losses in training mode only (use a seg, depth or cls run)"
        )


def batch_loss(task: Any, batch: Any) -> Tensor:
    """The training objective of one batch: `criterion(predict(image, target), target)` for the
    tasks that train on it, else the task's own training_step (detection, distillation)."""
    if type(task).training_step is BaseTask.training_step:
        image, target = batch
        return task.criterion(task.predict(image, target), target)
    with warnings.catch_warnings():  # its self.log calls have no trainer to log to
        warnings.simplefilter("ignore")
        return task.training_step(batch, 0)


def mean_loss(loss: Callable[[Any], Tensor], batches: list[Any]) -> float:
    """The mean of `loss` over `batches` without gradients."""
    with torch.no_grad():
        return float(sum(float(loss(b)) for b in batches) / len(batches))


def load_context(ckpt: str | Path, config: str | Path | None = None, device: str = "cpu") -> RunContext:
    """The run behind `ckpt` rebuilt as the export tool rebuilds it (`bnnbench.run.run_model`), plus its task."""
    from omegaconf import OmegaConf


    model, dm, config_path = load_run_model(ckpt, config)
    task = job.build_task(OmegaConf.load(config_path), model, dm.info)
    dev = torch.device(device)
    task.to(dev).eval()
    return RunContext(model=task.model, task=task, datamodule=dm, device=dev)


def module_names(model: nn.Module, kind: type | tuple[type, ...]) -> list[tuple[str, nn.Module]]:
    """(qualified name, module) of every submodule of `kind`, in forward-definition order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, kind)]


def forward_hooked(
    batches: Iterable, forward: Callable[[Any], Any], handles: list, label: str,
    progress: Any | None = None, total: int | None = None,
) -> None:
    """Run `forward` on every batch with forward hooks in place (a progress task `label`), then remove the hooks."""
    task = progress.add_task(label, total=total) if progress is not None else None
    try:
        for batch in batches:
            forward(batch)
            if task is not None:
                progress.advance(task)
    finally:
        for h in handles:
            h.remove()


__all__ = ["SPLITS", "Options", "RunContext", "batch_loss", "check_loss", "forward_hooked", "load_context", "mean_loss",
           "module_names"]
