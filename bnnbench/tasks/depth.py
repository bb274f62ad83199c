"""Monocular depth: SILog loss, Eigen/BTS metrics per image with the benchmark's eval crop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bnnbench.data.info import DataInfo
from bnnbench.metrics.depth import DepthMetrics
from bnnbench.metrics.eval_crops import check_eval_crop
from bnnbench.tasks import TASKS
from bnnbench.tasks.base import SMOKE_RUN, BaseTask, check_images, require
from bnnbench.tasks.losses import SILogLoss


@TASKS.register("depth")
class DepthTask(BaseTask):
    """Model maps images to depth (B,1,H,W) in metres; batches are (image, depth, 0 = no GT)."""

    data_kinds = ("depth",)
    monitor, monitor_mode = "val/abs_rel", "min"
    model_output = "dense"
    smoke_overrides = (*SMOKE_RUN, "model.dims=[8,16,16,16]", "model.depths=[1,1,1,1]", "model.decoder_channels=8",
                       "data.train_size=16", "data.val_size=8", "data.image_size=[32,32]")

    @classmethod
    def model_kwargs(cls, info: DataInfo) -> dict[str, Any]:
        """One depth map in (0, max_depth)."""
        return {"out_channels": 1, "head_kind": "depth", "max_depth": info.max_depth}

    @classmethod
    def check_batch(cls, batch: Any, info: DataInfo) -> None:
        """(images (B, C, H, W), depths (B, 1, H, W) in [0, max_depth], 0 where there is no ground truth)."""
        image, depth = batch
        n = check_images(image, info)
        require(depth.shape == (n, 1, *info.image_size) and depth.is_floating_point(),
                f"depths must be float ({n}, 1, {info.image_size[0]}, {info.image_size[1]}), got {tuple(depth.shape)}")
        require(bool(((depth >= 0) & (depth <= info.max_depth)).all()), f"depths outside [0, {info.max_depth}]")

    @classmethod
    def from_data(cls, model: nn.Module, info: DataInfo, **options: Any) -> DepthTask:
        """Scored in the data's depth range, with its protocol's evaluation crop."""
        return cls(model, min_depth=info.min_depth, max_depth=info.max_depth, eval_crop=info.eval_crop, **options)

    def __init__(
        self,
        model: nn.Module,
        min_depth: float = 1e-3,
        max_depth: float = 10.0,
        eval_crop: str | None = None,
        optimizer: Mapping[str, Any] | None = None,
        scheduler: Mapping[str, Any] | None = None,
        silog_variance_focus: float = 0.85,
        silog_scale: float = 10.0,
        no_decay_1d: bool = True,
    ) -> None:
        super().__init__(model, optimizer, scheduler, no_decay_1d)
        self.save_hyperparameters(ignore=["model"])
        self.min_depth = min_depth
        self.max_depth = max_depth
        self.eval_crop = check_eval_crop(eval_crop)
        self.criterion = SILogLoss(silog_variance_focus, silog_scale, min_depth, max_depth)
        self.val_metrics = DepthMetrics(min_depth, max_depth, eval_crop)
        self.test_metrics = DepthMetrics(min_depth, max_depth, eval_crop)

    def predict(self, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Depth at the target's size (bilinear, align_corners=True, as BTS, if it differs)."""
        depth = self.model(image)
        if depth.shape[-2:] != target.shape[-2:]:
            depth = F.interpolate(
                depth, size=target.shape[-2:], mode="bilinear", align_corners=True
            )
        return depth

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        """Log `val/loss` and accumulate the val depth metrics."""
        image, depth = batch
        pred = self.predict(image, depth)
        self.log("val/loss", self.criterion(pred, depth), batch_size=image.shape[0], sync_dist=True)
        self.val_metrics.update(pred, depth)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        """Accumulate the test depth metrics."""
        image, depth = batch
        self.test_metrics.update(self.predict(image, depth), depth)

    def on_validation_epoch_end(self) -> None:
        # DepthMetrics returns a dict, which self.log cannot take as a Metric: compute and reset
        self._log_metrics(self.val_metrics, "val/")

    def on_test_epoch_end(self) -> None:
        self._log_metrics(self.test_metrics, "test/")

    def _log_metrics(self, metrics: DepthMetrics, prefix: str) -> None:
        values = metrics.compute()  # torchmetrics syncs the sums across processes here
        self.log_dict({prefix + k: v for k, v in values.items()}, prog_bar=False)
        metrics.reset()
