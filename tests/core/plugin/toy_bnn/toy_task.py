"""`toy`: count the squares of `gen_toy` (cross-entropy over the counts, accuracy)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy

from bnnbench.data.info import DataInfo
from bnnbench.tasks import TASKS
from bnnbench.tasks.base import SMOKE_RUN, BaseTask, check_images, require


@TASKS.register("toy")
class ToyCountTask(BaseTask):
    """Model maps images to K logits, K = the counts; batches are (image, count)."""

    data_kinds = ("toy",)
    monitor, monitor_mode = "val/acc", "max"
    model_output = "vector"
    smoke_overrides = (*SMOKE_RUN, "data.train_size=16", "data.val_size=8")

    @classmethod
    def model_kwargs(cls, info: DataInfo) -> dict[str, Any]:
        """One logit per count."""
        return {"num_classes": info.num_classes}

    @classmethod
    def check_batch(cls, batch: Any, info: DataInfo) -> None:
        """(images (B, C, H, W), counts (B,) int64 in [0, K))."""
        image, count = batch
        n = check_images(image, info)
        require(count.shape == (n,) and count.dtype == torch.int64, f"counts must be ({n},) int64")
        require(bool(((count >= 0) & (count < info.num_classes)).all()), "counts out of range")

    @classmethod
    def from_data(cls, model: nn.Module, info: DataInfo, **options: Any) -> ToyCountTask:
        """Scored over the data's counts."""
        return cls(model, num_classes=info.num_classes, **options)

    def __init__(
        self,
        model: nn.Module,
        num_classes: int = 4,
        optimizer: Mapping[str, Any] | None = None,
        scheduler: Mapping[str, Any] | None = None,
        no_decay_1d: bool = True,
    ) -> None:
        super().__init__(model, optimizer, scheduler, no_decay_1d)
        self.criterion = nn.CrossEntropyLoss()
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")

    def predict(self, image: Tensor, target: Tensor) -> Tensor:
        return self.model(image)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        image, count = batch
        self.val_acc.update(self.predict(image, count), count)
        self.log("val/acc", self.val_acc, on_epoch=True, batch_size=image.shape[0])

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        image, count = batch
        self.test_acc.update(self.predict(image, count), count)
        self.log("test/acc", self.test_acc, on_epoch=True, batch_size=image.shape[0])
