"""What detection data sets share: the target layout, the batch collation and flips.

A sample is (image, target): a float (3, H, W) image in [0, 1] and a dict with `boxes`
float (n, 4) as (x1, y1, x2, y2) in continuous pixel coordinates (torchvision's convention:
a VOC box with 1-based inclusive corners xmin..xmax spans x1 = xmin - 1 to x2 = xmax),
`labels` int64 (n,) in 1..K-1 (0 is the background) and `difficult` bool (n,).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from bnnbench.data.base import BaseDataModule

Target = dict[str, Tensor]


def detection_collate(batch: list[tuple[Tensor, Target]]) -> tuple[list[Tensor], list[Target]]:
    """A list of samples as (images, targets) lists: detection images differ in size."""
    images, targets = zip(*batch)
    return list(images), list(targets)


def make_target(boxes: Any, labels: Any, difficult: Any) -> Target:
    """A target dict from array-likes (an image without objects gets (0, 4) boxes)."""
    return {
        "boxes": torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.as_tensor(labels, dtype=torch.int64).reshape(-1),
        "difficult": torch.as_tensor(difficult, dtype=torch.bool).reshape(-1),
    }


def hflip(image: Tensor, target: Target) -> tuple[Tensor, Target]:
    """Mirror an image and its boxes left-right."""
    width = image.shape[-1]
    boxes = target["boxes"].clone()
    boxes[:, [0, 2]] = width - target["boxes"][:, [2, 0]]
    return image.flip(-1), {**target, "boxes": boxes}


class DetectionDataModule(BaseDataModule):
    """Detection data: `num_classes` counts the background; batches are lists (see above)."""

    task = "det"
    collate_fn = staticmethod(detection_collate)
    class_names: tuple[str, ...] = ()


__all__ = ["DetectionDataModule", "Target", "detection_collate", "hflip", "make_target"]
