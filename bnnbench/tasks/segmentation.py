"""Semantic segmentation: per-pixel cross-entropy, mIoU and pixel accuracy over the split."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bnnbench.data.info import DataInfo
from bnnbench.metrics.segmentation import segmentation_metrics
from bnnbench.tasks import TASKS
from bnnbench.tasks.base import SMOKE_RUN, BaseTask, check_images, require


class _CrossEntropy(nn.CrossEntropyLoss):
    """Cross-entropy that is 0 (not NaN) on a batch whose pixels are all ignored."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if not (target != self.ignore_index).any():
            return logits.sum() * 0.0
        return super().forward(logits, target)


@TASKS.register("seg")
class SegmentationTask(BaseTask):
    """Model maps images (B,3,H,W) to logits (B,K,H,W); batches are (image, mask (B,H,W))."""

    data_kinds = ("seg",)
    monitor, monitor_mode = "val/mIoU", "max"
    model_output = "dense"
    # keys both the binary network and the 32-bit baseline (upernet_convnext) have
    smoke_overrides = (*SMOKE_RUN, "model.dims=[8,16,16,16]", "model.depths=[1,1,1,1]", "model.decoder_channels=8",
                       "data.train_size=16", "data.val_size=8", "data.image_size=[32,32]")

    @classmethod
    def model_kwargs(cls, info: DataInfo) -> dict[str, Any]:
        """K logit maps, K = the data's classes."""
        return {"out_channels": info.num_classes, "head_kind": "logits"}

    @classmethod
    def check_batch(cls, batch: Any, info: DataInfo) -> None:
        """(images (B, C, H, W), masks (B, H, W) int64 in [0, K) or the ignore index)."""
        image, mask = batch
        n = check_images(image, info)
        require(mask.shape == (n, *info.image_size) and mask.dtype == torch.int64,
                f"masks must be ({n}, {info.image_size[0]}, {info.image_size[1]}) int64, got {tuple(mask.shape)} {mask.dtype}")
        require(bool(((mask >= 0) & (mask < info.num_classes) | (mask == info.ignore_index)).all()),
                f"mask values outside [0, {info.num_classes}) and the ignore index {info.ignore_index}")

    @classmethod
    def from_data(cls, model: nn.Module, info: DataInfo, **options: Any) -> SegmentationTask:
        """Scored over the data's classes, ignoring its ignore index."""
        return cls(model, num_classes=info.num_classes, ignore_index=info.ignore_index, **options)

    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        ignore_index: int = 255,
        optimizer: Mapping[str, Any] | None = None,
        scheduler: Mapping[str, Any] | None = None,
        no_decay_1d: bool = True,
    ) -> None:
        super().__init__(model, optimizer, scheduler, no_decay_1d)
        self.save_hyperparameters(ignore=["model"])
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.criterion = _CrossEntropy(ignore_index=ignore_index)
        self.val_metrics = segmentation_metrics(num_classes, ignore_index, prefix="val/")
        self.test_metrics = segmentation_metrics(num_classes, ignore_index, prefix="test/")

    def predict(self, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Logits at the mask's size (bilinear, as mmseg, if the model's output differs)."""
        logits = self.model(image)
        if logits.shape[-2:] != target.shape[-2:]:
            logits = F.interpolate(
                logits, size=target.shape[-2:], mode="bilinear", align_corners=False
            )
        return logits

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        """Accumulate val metrics; log `val/loss`, `val/mIoU`, `val/pixel_acc` per epoch."""
        image, mask = batch
        logits = self.predict(image, mask)
        self.log("val/loss", self.criterion(logits, mask), batch_size=image.shape[0], sync_dist=True)
        self.val_metrics.update(logits.argmax(dim=1), mask)
        self.log_dict(self.val_metrics, on_step=False, on_epoch=True, prog_bar=True)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        """Accumulate test metrics; log `test/mIoU`, `test/pixel_acc` per epoch."""
        image, mask = batch
        self.test_metrics.update(self.predict(image, mask).argmax(dim=1), mask)
        self.log_dict(self.test_metrics, on_step=False, on_epoch=True)
