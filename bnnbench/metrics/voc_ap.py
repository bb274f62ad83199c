"""PASCAL VOC 2007 detection mAP (11-point interpolated AP per class, averaged over classes).

The protocol of the VOC devkit as py-faster-rcnn's `voc_eval.py` (rbgirshick/py-faster-rcnn@
781a917, lib/datasets/voc_eval.py; the same file in ZiweiWangTHU/BiDet@fc54511,
faster_rcnn/lib/datasets/voc_eval.py), which torchmetrics' COCO-style mAP does not implement:
per class, the positives are the non-difficult ground-truth boxes; detections are taken by
descending score; each is matched to the ground-truth box of its class in its image with the
largest IoU (taken or not), IoU computed on inclusive pixel boxes (widths x2 - x1 + 1); if that
IoU > 0.5 (strict) a difficult box makes the detection ignored, a free box a true positive
(then taken), a taken box a false positive; else a false positive. AP = the mean over recall
thresholds 0, 0.1, ..., 1 of the best precision at a recall >= the threshold (0 if none).

Matching only involves one image's boxes, and the descending-score order restricted to one
image is that image's own order, so each detection is marked TP / FP / ignored as its image
arrives (`match_image`); the states are flat tensors that concatenate across processes.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric

IOU_THRESHOLD = 0.5
RECALL_POINTS = np.linspace(0.0, 1.0, 11)
TP, FP, IGNORED = 1, 0, -1


def inclusive_iou(box: np.ndarray, gts: np.ndarray) -> np.ndarray:
    """IoU of one inclusive pixel box (x1, y1, x2, y2) with each of `gts` (n, 4), the +1 rule."""
    iw = np.maximum(np.minimum(gts[:, 2], box[2]) - np.maximum(gts[:, 0], box[0]) + 1.0, 0.0)
    ih = np.maximum(np.minimum(gts[:, 3], box[3]) - np.maximum(gts[:, 1], box[1]) + 1.0, 0.0)
    inter = iw * ih
    area = (box[2] - box[0] + 1.0) * (box[3] - box[1] + 1.0)
    gt_area = (gts[:, 2] - gts[:, 0] + 1.0) * (gts[:, 3] - gts[:, 1] + 1.0)
    return inter / (area + gt_area - inter)


def match_image(
    boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
    gt_boxes: np.ndarray, gt_labels: np.ndarray, gt_difficult: np.ndarray,
) -> np.ndarray:
    """TP (1), FP (0) or IGNORED (-1) for each detection of one image (inclusive pixel boxes)."""
    flags = np.full(len(boxes), FP, dtype=np.int64)
    for c in np.unique(labels):
        dets = np.nonzero(labels == c)[0]
        dets = dets[np.argsort(-scores[dets], kind="stable")]
        gts = np.nonzero(gt_labels == c)[0]
        if len(gts) == 0:
            continue
        taken = np.zeros(len(gts), dtype=bool)
        for d in dets:
            iou = inclusive_iou(boxes[d], gt_boxes[gts])
            j = int(np.argmax(iou))
            if iou[j] <= IOU_THRESHOLD:
                continue
            if gt_difficult[gts[j]]:
                flags[d] = IGNORED
            elif not taken[j]:
                flags[d], taken[j] = TP, True
    return flags


def eleven_point_ap(tp: np.ndarray, npos: int) -> float:
    """VOC07 AP of detections already sorted by descending score (tp: 1/0, ignored removed)."""
    if npos == 0:
        return float("nan")
    ctp = np.cumsum(tp)
    cfp = np.cumsum(1 - tp)
    recall = ctp / npos
    precision = ctp / np.maximum(ctp + cfp, np.finfo(np.float64).eps)
    ap = 0.0
    for t in RECALL_POINTS:
        above = precision[recall >= t]
        ap += (above.max() if above.size else 0.0) / len(RECALL_POINTS)
    return float(ap)


def to_inclusive(boxes: Tensor) -> Tensor:
    """Continuous (torchvision) boxes as inclusive pixel boxes: x2, y2 minus one pixel."""
    return boxes - boxes.new_tensor([0.0, 0.0, 1.0, 1.0])


def _flat(state: list[Tensor] | Tensor, dtype: torch.dtype) -> Tensor:
    """A list state (a list of tensors, or one tensor once synchronised) as one CPU tensor."""
    if isinstance(state, Tensor):
        return state.cpu()
    return torch.cat(state).cpu() if state else torch.zeros(0, dtype=dtype)


class VOC07MAP(Metric):
    """VOC07 11-point mAP over the classes 1..num_classes-1 (0 = background).

    `update(preds, targets)` takes torchvision's lists: preds with `boxes`, `scores`, `labels`,
    targets with `boxes`, `labels` and optionally `difficult`, boxes in continuous pixel
    coordinates (converted to the devkit's inclusive ones). `compute()` returns the mAP over
    classes that have positives; `per_class()` the AP of each class (NaN: no positives).
    """

    full_state_update = False

    def __init__(self, num_classes: int, **kwargs) -> None:
        super().__init__(**kwargs)
        if num_classes < 2:
            raise ValueError(f"num_classes must count the background and one class, got {num_classes}")
        self.num_classes = num_classes
        self.add_state("scores", default=[], dist_reduce_fx="cat")
        self.add_state("labels", default=[], dist_reduce_fx="cat")
        self.add_state("flags", default=[], dist_reduce_fx="cat")
        self.add_state("npos", default=torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: list[dict[str, Tensor]], targets: list[dict[str, Tensor]]) -> None:
        """Mark each detection of each image TP / FP / ignored and count the positives."""
        for pred, target in zip(preds, targets):
            difficult = target.get("difficult", torch.zeros_like(target["labels"])).bool()
            gt_labels = target["labels"]
            self.npos += torch.bincount(gt_labels[~difficult].cpu(), minlength=self.num_classes)[: self.num_classes].to(self.npos.device)
            flags = match_image(
                to_inclusive(pred["boxes"]).detach().cpu().double().numpy(),
                pred["scores"].detach().cpu().double().numpy(),
                pred["labels"].cpu().numpy(),
                to_inclusive(target["boxes"]).cpu().double().numpy(),
                gt_labels.cpu().numpy(),
                difficult.cpu().numpy(),
            )
            self.scores.append(pred["scores"].detach().double())
            self.labels.append(pred["labels"].detach())
            self.flags.append(torch.from_numpy(flags).to(pred["labels"].device))

    def per_class(self) -> Tensor:
        """AP of classes 1..num_classes-1 (NaN for a class without positives)."""
        scores, labels, flags = _flat(self.scores, torch.float64), _flat(self.labels, torch.long), _flat(self.flags, torch.long)
        aps = []
        for c in range(1, self.num_classes):
            keep = (labels == c) & (flags != IGNORED)
            order = torch.argsort(scores[keep], descending=True, stable=True)
            tp = flags[keep][order].numpy().astype(np.float64)
            aps.append(eleven_point_ap(tp, int(self.npos[c])))
        return torch.tensor(aps, dtype=torch.float64)

    def compute(self) -> Tensor:
        """Mean AP over the classes with positives (0 when no class has any)."""
        aps = self.per_class()
        aps = aps[~aps.isnan()]
        return aps.mean().float() if aps.numel() else torch.tensor(0.0)


__all__ = ["VOC07MAP", "eleven_point_ap", "inclusive_iou", "match_image", "to_inclusive"]
