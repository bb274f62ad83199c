"""Semantic-segmentation metrics: mIoU and pixel accuracy accumulated over a whole split.

mIoU convention (mmseg / Cityscapes / ADE20K benchmarks): per-class IoU from the confusion
matrix accumulated over the split, pixels whose target is `ignore_index` dropped entirely
(their prediction counts nowhere), and the mean taken over classes with a non-zero union
(classes absent from both prediction and target are left out, i.e. nanmean). torchmetrics
1.9 `MulticlassJaccardIndex(average="macro")` does exactly this: its reduction gives weight 0
to classes whose confusion-matrix row and column sums are both zero.
"""

from __future__ import annotations

from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex


def segmentation_metrics(
    num_classes: int, ignore_index: int = 255, prefix: str = ""
) -> MetricCollection:
    """`{prefix}mIoU` and `{prefix}pixel_acc`, accumulated over all updates until reset."""
    return MetricCollection(
        {
            "mIoU": MulticlassJaccardIndex(num_classes, ignore_index=ignore_index, average="macro"),
            "pixel_acc": MulticlassAccuracy(
                num_classes, ignore_index=ignore_index, average="micro"
            ),
        },
        prefix=prefix,
    )
