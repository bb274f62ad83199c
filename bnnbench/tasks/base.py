"""Shared Lightning plumbing of all tasks: the wrapped model, training step and optimizers."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, ClassVar

import lightning as L
import torch
from torch import nn

from bnnbench.data.info import DataInfo
from bnnbench.tasks.optim import build_optimizer, build_scheduler

# one training step, one validation and one test batch, no logger, no progress bar: the trainer
# part of every task's `smoke_overrides`
SMOKE_RUN = ("trainer.max_epochs=1", "+trainer.limit_train_batches=1", "+trainer.limit_val_batches=1",
             "+trainer.limit_test_batches=1", "trainer.enable_progress_bar=false", "logger=none")


class BaseTask(L.LightningModule, abc.ABC):
    """Wraps any `nn.Module`; subclasses set `self.criterion` and implement `predict`.

    `optimizer` / `scheduler` are config dicts (see `bnnbench.tasks.optim`); the schedule is
    stepped every optimizer step over `trainer.estimated_stepping_batches`.

    A task is a plug-in: it declares the data kinds it trains on (`data_kinds`), what its model
    must output (`model_output`: "dense" maps or a "vector"; `model_kwargs` says how many and
    of which kind, from the data's description) and builds itself from that description
    (`from_data`). The CLI wires data, model and task through these alone.
    """

    data_kinds: ClassVar[tuple[str, ...]] = ()
    model_output: ClassVar[str] = ""
    # command-line overrides that make a run of this task a one-step smoke run on a CPU (its
    # default data and model, tiny): what the registry-wide tests run every experiment with
    smoke_overrides: ClassVar[tuple[str, ...]] = ()
    # the validation metric that picks a run's best.ckpt (and whose test twin the robustness grid
    # reports), and whether Lightning keeps its "max" or its "min": the task's own headline metric
    monitor: ClassVar[str]
    monitor_mode: ClassVar[str]  # "max" or "min"

    def __init__(
        self,
        model: nn.Module,
        optimizer: Mapping[str, Any] | None = None,
        scheduler: Mapping[str, Any] | None = None,
        no_decay_1d: bool = True,
    ) -> None:
        super().__init__()
        self.model = model
        self.optimizer_cfg = dict(optimizer) if optimizer is not None else None
        self.scheduler_cfg = dict(scheduler) if scheduler is not None else None
        self.no_decay_1d = no_decay_1d
        self.criterion: nn.Module

    @classmethod
    @abc.abstractmethod
    def model_kwargs(cls, info: DataInfo) -> dict[str, Any]:
        """What the model must output for data described by `info` (keyword arguments of its builder)."""

    @classmethod
    @abc.abstractmethod
    def from_data(cls, model: nn.Module, info: DataInfo, **options: Any) -> BaseTask:
        """The task around `model`, told what it needs of the data by `info`."""

    @classmethod
    @abc.abstractmethod
    def check_batch(cls, batch: Any, info: DataInfo) -> None:
        """Raise ValueError (one line) when a training batch of data described by `info` is not
        what this task trains on: the data kind's contract, owned by the task."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """The model's raw output."""
        return self.model(image)

    @abc.abstractmethod
    def predict(self, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Model output brought to the target's spatial size."""

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        """Loss of one batch; logs `train/loss` and `lr`."""
        image, target = batch
        loss = self.criterion(self.predict(image, target), target)
        self.log("train/loss", loss, prog_bar=True, batch_size=image.shape[0])
        self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"], batch_size=image.shape[0])
        return loss

    def configure_optimizers(self) -> Any:
        """Optimizer with decay / no-decay groups, plus a per-step LR schedule unless `none`."""
        optimizer = build_optimizer(self.model, self.optimizer_cfg, self.no_decay_1d)
        scheduler = build_scheduler(
            optimizer, self.scheduler_cfg, lambda: self.trainer.estimated_stepping_batches
        )
        if scheduler is None:
            return optimizer
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


def require(ok: bool, what: str) -> None:
    """Raise ValueError(`what`) unless `ok`: one line naming the broken part of a batch contract."""
    if not ok:
        raise ValueError(what)


def check_images(image: torch.Tensor, info: DataInfo, size: tuple[int, int] | None = None) -> int:
    """A float (B, C, H, W) image batch with the data's channels (and `size`, default the data's
    image size); returns B."""
    size = tuple(info.image_size) if size is None else size
    require(isinstance(image, torch.Tensor) and image.dim() == 4 and image.is_floating_point(),
            f"images must be a float (B, C, H, W) tensor, got {getattr(image, 'shape', type(image))}")
    require(image.shape[1] == info.in_channels and tuple(image.shape[2:]) == size,
            f"images are {tuple(image.shape[1:])}, expected ({info.in_channels}, {size[0]}, {size[1]})")
    return image.shape[0]
