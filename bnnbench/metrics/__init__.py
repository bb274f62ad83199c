"""Evaluation metrics: depth (per-image averaged, with benchmark eval crops) and segmentation."""

from __future__ import annotations

from bnnbench.metrics.depth import DEPTH_METRIC_NAMES, DepthMetrics
from bnnbench.metrics.eval_crops import EVAL_CROPS, check_eval_crop, crop_box, eval_crop_mask
from bnnbench.metrics.segmentation import segmentation_metrics

__all__ = [
    "DEPTH_METRIC_NAMES",
    "EVAL_CROPS",
    "DepthMetrics",
    "check_eval_crop",
    "crop_box",
    "eval_crop_mask",
    "segmentation_metrics",
]
