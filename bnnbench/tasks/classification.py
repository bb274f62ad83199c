"""Image classification: cross-entropy, optional distillation from a real-valued teacher,
top-1 / top-5 accuracy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy

from bnnbench.data.info import DataInfo
from bnnbench.tasks import TASKS
from bnnbench.tasks.base import SMOKE_RUN, BaseTask, check_images, require


def distribution_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """ReActNet's distributional loss (Liu et al. 2020, Eq. 6): the cross-entropy of the
    student's log-softmax against the teacher's softmax, summed over classes, mean over batch."""
    return -(F.softmax(teacher.detach(), dim=1) * F.log_softmax(student, dim=1)).sum(1).mean()


@TASKS.register("cls")
class ClassificationTask(BaseTask):
    """Model maps images (B,C,H,W) to logits (B,K); batches are (image, label).

    Loss: cross-entropy (`label_smoothing`), or with a teacher
    `distill_weight * distribution_loss + (1 - distill_weight) * CE` (ReActNet trains on the
    distributional loss alone: distill_weight 1). The teacher is a trained real-valued module
    (`teacher`; a run gets it from its recipe, `bnnbench.run.recipe`); it stays frozen in eval
    mode and out of checkpoints.
    Logs val/loss, val/top1, val/top5 and test/loss, test/top1, test/top5 (micro accuracy;
    top-5 is top-K when K < 5).
    """

    data_kinds = ("cls",)
    monitor, monitor_mode = "val/top1", "max"
    model_output = "vector"
    # full width: ES rows (tau * g up to 16) need ResNet-20's 16 channels
    smoke_overrides = (*SMOKE_RUN, "data.batch_size=16", "data.corruption=null")  # no corruption grid

    @classmethod
    def model_kwargs(cls, info: DataInfo) -> dict[str, Any]:
        """K logits, K = the data's classes."""
        return {"num_classes": info.num_classes}

    @classmethod
    def check_batch(cls, batch: Any, info: DataInfo) -> None:
        """(images (B, C, H, W), labels (B,) int64 in [0, K))."""
        image, label = batch
        n = check_images(image, info)
        require(label.shape == (n,) and label.dtype == torch.int64, f"labels must be ({n},) int64, got "
                f"{tuple(label.shape)} {label.dtype}")
        require(bool(((label >= 0) & (label < info.num_classes)).all()), f"labels outside [0, {info.num_classes})")

    @classmethod
    def from_data(cls, model: nn.Module, info: DataInfo, **options: Any) -> ClassificationTask:
        """Scored over the data's classes."""
        return cls(model, num_classes=info.num_classes, **options)

    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        label_smoothing: float = 0.0,
        distill_weight: float = 1.0,
        teacher: nn.Module | None = None,
        optimizer: Mapping[str, Any] | None = None,
        scheduler: Mapping[str, Any] | None = None,
        no_decay_1d: bool = True,
    ) -> None:
        super().__init__(model, optimizer, scheduler, no_decay_1d)
        self.save_hyperparameters(ignore=["model", "teacher"])
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if not 0.0 <= distill_weight <= 1.0:
            raise ValueError(f"distill_weight must lie in [0, 1], got {distill_weight}")
        if teacher is not None:
            teacher.eval().requires_grad_(False)
        # kept out of the module tree: not trained, not saved, not switched to train mode
        object.__setattr__(self, "_teacher", teacher)
        self.num_classes = num_classes
        self.distill_weight = distill_weight
        self.criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        k5 = min(5, num_classes)
        self.val_top1 = MulticlassAccuracy(num_classes, top_k=1, average="micro")
        self.val_top5 = MulticlassAccuracy(num_classes, top_k=k5, average="micro")
        self.test_top1 = MulticlassAccuracy(num_classes, top_k=1, average="micro")
        self.test_top5 = MulticlassAccuracy(num_classes, top_k=k5, average="micro")

    @property
    def teacher(self) -> nn.Module | None:
        """The frozen teacher, or None."""
        return self._teacher

    def predict(self, image: Tensor, target: Tensor) -> Tensor:
        """Class logits (B, K)."""
        return self.model(image)

    def _teacher_logits(self, image: Tensor) -> Tensor:
        teacher = self._teacher
        assert teacher is not None
        first = next(teacher.parameters(), None)
        if first is not None and first.device != image.device:
            teacher.to(image.device)
        teacher.eval()
        with torch.no_grad():
            return teacher(image)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        """CE and/or the distributional loss of one batch; logs train/loss (and train/kd)."""
        image, target = batch
        logits = self.predict(image, target)
        n = image.shape[0]
        if self._teacher is None:
            loss = self.criterion(logits, target)
        else:
            kd = distribution_loss(logits, self._teacher_logits(image))
            self.log("train/kd", kd, batch_size=n)
            loss = self.distill_weight * kd
            if self.distill_weight < 1.0:
                loss = loss + (1.0 - self.distill_weight) * self.criterion(logits, target)
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        if self._trainer is not None and self.trainer.optimizers:
            self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"], batch_size=n)
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        """Log val/loss and accumulate val/top1, val/top5."""
        image, target = batch
        logits = self.predict(image, target)
        self.log("val/loss", self.criterion(logits, target), batch_size=image.shape[0], sync_dist=True)
        self.val_top1.update(logits, target)
        self.val_top5.update(logits, target)
        self.log("val/top1", self.val_top1, on_step=False, on_epoch=True, prog_bar=True)
        self.log("val/top5", self.val_top5, on_step=False, on_epoch=True)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        """Log test/loss and accumulate test/top1, test/top5."""
        image, target = batch
        logits = self.predict(image, target)
        self.log("test/loss", self.criterion(logits, target), batch_size=image.shape[0], sync_dist=True)
        self.test_top1.update(logits, target)
        self.test_top5.update(logits, target)
        self.log("test/top1", self.test_top1, on_step=False, on_epoch=True)
        self.log("test/top5", self.test_top5, on_step=False, on_epoch=True)
