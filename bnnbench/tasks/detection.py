"""Object detection: a torchvision-style detector's own losses, VOC07 mAP and COCO-style mAP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics.detection import MeanAveragePrecision

from bnnbench.data.detection import Target
from bnnbench.data.info import DataInfo
from bnnbench.metrics.voc_ap import VOC07MAP
from bnnbench.tasks import TASKS
from bnnbench.tasks.base import BaseTask

Batch = tuple[list[Tensor], list[Target]]


def coco_map() -> MeanAveragePrecision:
    """COCO-style box mAP (pycocotools backend); VOC's difficult boxes are passed as crowd
    regions, which COCO's matching likewise neither rewards nor penalises."""
    return MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="pycocotools")


def as_coco_target(target: Target) -> dict[str, Tensor]:
    """A target with `difficult` renamed to torchmetrics' `iscrowd`."""
    out = {"boxes": target["boxes"], "labels": target["labels"]}
    if "difficult" in target:
        out["iscrowd"] = target["difficult"].long()
    return out


@TASKS.register("det")
class DetectionTask(BaseTask):
    """Model: a torchvision detector (loss dict from `model(images, targets)` in train mode,
    detections from `model(images)` in eval mode); batches are (images, targets) lists.

    Loss: the sum of the detector's losses (each logged as train/<name>). Scores: VOC07 11-point
    mAP (val/mAP, test/mAP; difficult boxes ignored) and COCO-style mAP at test
    (test/coco_mAP, test/coco_mAP50).
    """

    data_kinds = ("det",)
    model_output = "detections"

    @classmethod
    def model_kwargs(cls, info: DataInfo) -> dict[str, Any]:
        """K class scores, K = the data's classes with the background."""
        return {"num_classes": info.num_classes}

    @classmethod
    def from_data(cls, model: nn.Module, info: DataInfo, **options: Any) -> DetectionTask:
        """Scored over the data's classes."""
        return cls(model, num_classes=info.num_classes, **options)

    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        coco_metric: bool = True,
        optimizer: Mapping[str, Any] | None = None,
        scheduler: Mapping[str, Any] | None = None,
        no_decay_1d: bool = True,
    ) -> None:
        super().__init__(model, optimizer, scheduler, no_decay_1d)
        self.save_hyperparameters(ignore=["model"])
        self.num_classes = num_classes
        self.val_map = VOC07MAP(num_classes)
        self.test_map = VOC07MAP(num_classes)
        self.test_coco = coco_map() if coco_metric else None

    def forward(self, images: list[Tensor]) -> list[dict[str, Tensor]]:
        """Detections (boxes, scores, labels) of each image (the model in eval mode)."""
        return self.model(images)

    def predict(self, image: list[Tensor], target: list[Target]) -> list[dict[str, Tensor]]:
        """Detections of each image."""
        return self.model(image)

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        """Sum of the detector's losses; logs each, `train/loss` and `lr`."""
        images, targets = batch
        n = len(images)
        losses = self.model(images, [{"boxes": t["boxes"], "labels": t["labels"]} for t in targets])
        loss = torch.stack(list(losses.values())).sum()
        for name, value in losses.items():
            self.log(f"train/{name}", value, batch_size=n)
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        if self._trainer is not None and self.trainer.optimizers:
            self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"], batch_size=n)
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        """Accumulate val/mAP (VOC07)."""
        images, targets = batch
        self.val_map.update(self.predict(images, targets), targets)
        self.log("val/mAP", self.val_map, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(images))

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        """Accumulate test/mAP (VOC07) and the COCO-style test/coco_mAP, test/coco_mAP50."""
        images, targets = batch
        preds = self.predict(images, targets)
        self.test_map.update(preds, targets)
        self.log("test/mAP", self.test_map, on_step=False, on_epoch=True, batch_size=len(images))
        if self.test_coco is not None:
            self.test_coco.update(preds, [as_coco_target(t) for t in targets])

    def on_test_epoch_end(self) -> None:
        """Log the COCO-style scores of the whole test split."""
        if self.test_coco is None:
            return
        scores = self.test_coco.compute()
        self.log("test/coco_mAP", scores["map"].float())
        self.log("test/coco_mAP50", scores["map_50"].float())
        self.test_coco.reset()
