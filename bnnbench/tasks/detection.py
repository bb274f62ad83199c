"""Object detection: a torchvision-style detector's own losses, VOC07 mAP and COCO-style mAP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics.detection import MeanAveragePrecision
from torchvision.ops import batched_nms, clip_boxes_to_image

from bnnbench.data.detection import Target
from bnnbench.data.info import DataInfo
from bnnbench.metrics.voc_ap import VOC07MAP
from bnnbench.tasks import TASKS
from bnnbench.tasks.base import SMOKE_RUN, BaseTask, check_images, require

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


def compression_loss(features: Tensor) -> Tensor:
    """BiDet's L2 compression term (Wang et al. 2020, Eq. 6's I(X; F) bound as the authors' code
    writes it): the mean of the squared features."""
    return features.pow(2).mean()


def prior_entropy(scores: Tensor, gt_count: int) -> Tensor:
    """BiDet's sparse-prior term (Wang et al. 2020, Eq. 7-8 as the authors' code writes it):
    -sum p log(p + 1e-6) / gt_count, p = scores / sum(scores) with the sum held constant."""
    p = scores / scores.sum().detach()
    return -(p * torch.log(p + 1e-6)).sum() / float(gt_count)


def rpn_prior_loss(scores: list[Tensor], targets: list[Target]) -> Tensor:
    """Mean over images of the entropy of the post-NMS RPN foreground scores over the image's
    ground-truth box count (images without boxes are skipped)."""
    terms = [prior_entropy(s, len(t["labels"])) for s, t in zip(scores, targets) if len(t["labels"]) and s.numel()]
    return torch.stack(terms).sum() / len(scores) if terms else scores[0].new_zeros(())


def legacy_nms(boxes: Tensor, scores: Tensor, thresh: float) -> Tensor:
    """Greedy NMS in the legacy pixel convention of BiDet's code (py-faster-rcnn / maskrcnn-benchmark
    `nms`): a box covers x2 - x1 + 1 pixels, so areas and overlaps gain 1 per side. Indices kept,
    by decreasing score. (torchvision's `nms` has no +1: written by hand for that reason.)"""
    order = scores.argsort(descending=True)
    x1, y1, x2, y2 = boxes.unbind(1)
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    keep = []
    while order.numel():
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest]) + 1).clamp_min(0)
        h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest]) + 1).clamp_min(0)
        inter = w * h
        order = rest[inter / (area[i] + area[rest] - inter) <= thresh]
    return torch.stack(keep) if keep else order


def legacy_decode(deltas: Tensor, proposals: Tensor, weights: tuple[float, ...], size: tuple[int, int]) -> Tensor:
    """Boxes from (dx, dy, dw, dh) as BiDet's `bbox_transform_inv` and `clip_boxes`
    (ZiweiWangTHU/BiDet@86ea442 faster_rcnn/lib/model/rpn/bbox_transform.py): widths x2 - x1 + 1,
    centres x1 + w / 2, clipped to [0, W - 1] x [0, H - 1]; `weights` are the box coder's
    (10, 10, 5, 5), i.e. the code's target stds (0.1, 0.1, 0.2, 0.2)."""
    wx, wy, ww, wh = weights
    widths = proposals[:, 2] - proposals[:, 0] + 1.0
    heights = proposals[:, 3] - proposals[:, 1] + 1.0
    cx = proposals[:, 0] + 0.5 * widths + deltas[:, 0] / wx * widths
    cy = proposals[:, 1] + 0.5 * heights + deltas[:, 1] / wy * heights
    pw, ph = torch.exp(deltas[:, 2] / ww) * widths, torch.exp(deltas[:, 3] / wh) * heights
    boxes = torch.stack([cx - 0.5 * pw, cy - 0.5 * ph, cx + 0.5 * pw, cy + 0.5 * ph], 1)
    h, w = size
    return torch.stack([boxes[:, 0].clamp(0, w - 1), boxes[:, 1].clamp(0, h - 1),
                        boxes[:, 2].clamp(0, w - 1), boxes[:, 3].clamp(0, h - 1)], 1)


def head_prior_loss(
    probs: Tensor, boxes: Tensor, per_image: list[int], targets: list[Target], thresh: float, nms: float,
    legacy: bool = False,
) -> Tensor:
    """Mean over (image, present class) pairs of the entropy of that class's RoI probabilities
    above `thresh` kept by NMS at `nms`, over the class's ground-truth count; pairs keeping no
    more boxes than the count are skipped, as in BiDet's code. `probs` (R, K) softmax scores
    (gradient-carrying), `boxes` (R, 4) decoded boxes, `per_image` RoIs per image; `legacy`:
    NMS in BiDet's +1 pixel convention (`legacy_nms`), else torchvision's."""
    terms = []
    for p, b, t in zip(probs.split(per_image), boxes.split(per_image), targets):
        for c in t["labels"].unique().tolist():
            if c == 0:
                continue
            keep = (p[:, c] > thresh).nonzero().flatten()
            if keep.numel() == 0:
                continue
            if legacy:
                kept = keep[legacy_nms(b[keep], p[keep, c].detach(), nms)]
            else:
                kept = keep[batched_nms(b[keep], p[keep, c].detach(), torch.zeros_like(keep), nms)]
            gt_count = int((t["labels"] == c).sum())
            if kept.numel() > gt_count:
                terms.append(prior_entropy(p[kept, c], gt_count))
    return torch.stack(terms).mean() if terms else probs.new_zeros(())


@TASKS.register("det")
class DetectionTask(BaseTask):
    """Model: a torchvision detector (loss dict from `model(images, targets)` in train mode,
    detections from `model(images)` in eval mode); batches are (images, targets) lists.

    Loss: the sum of the detector's losses (each logged as train/<name>). Scores: VOC07 11-point
    mAP (val/mAP, test/mAP; difficult boxes ignored) and COCO-style mAP at test
    (test/coco_mAP, test/coco_mAP50).

    BiDet's losses (Wang et al., CVPR 2020; ZiweiWangTHU/BiDet faster_rcnn code), each on when
    its weight is > 0 and all 0 (off) by default; they need a `BinaryFasterRCNN` (`bidet_r18`):
    `rpn_reg_weight` x mean square of the RPN conv's BN output and `head_reg_weight` x mean
    square of the 512-d RoI feature (information-bottleneck compression); `rpn_prior_weight` x
    entropy of the post-NMS RPN foreground scores per ground-truth box and `head_prior_weight` x
    entropy of each present class's RoI scores above `prior_score_thresh` after NMS at
    `prior_nms` (sparse object priors). All four weights are 0 before epoch `bidet_from_epoch`
    (0-based; BiDet: 6, the first LR decay, at epoch 7 of its
    1-based count: ZiweiWangTHU/BiDet@2e89365 faster_rcnn/trainval_net.py). The head prior decodes,
    clips and suppresses its boxes in the code's +1 pixel convention (`legacy_boxes`, default;
    false: torchvision's continuous boxes). Where the code's terms are infinite or NaN (an image
    without boxes in the RPN prior, no (image, class) pair with more kept boxes than its ground
    truth in the head prior: a division by zero), this task skips the image or gives 0, so one
    such batch cannot end a run (the code skips an infinite loss's step, not a NaN's). The sampled box deltas are the model's
    `ib_sample_sigma`.
    """

    data_kinds = ("det",)
    monitor, monitor_mode = "val/mAP", "max"
    model_output = "detections"
    smoke_overrides = (*SMOKE_RUN, "model.widths=[8,8,16,16]", "model.anchor_sizes=[16,32]", "model.rpn_post_nms_test=20",
                       "data.train_size=8", "data.val_size=4", "data.test_size=4", "data.batch_size=4",
                       "data.image_size=[64,64]")

    @classmethod
    def check_batch(cls, batch: Any, info: DataInfo) -> None:
        """(B float (C, H, W) images, B dicts of boxes (n, 4) and labels (n,) in [1, K]), as lists."""
        images, targets = batch
        require(isinstance(images, (list, tuple)) and len(images) == len(targets),
                "detection batches are lists of images and of targets, one per image")
        for image, target in zip(images, targets, strict=True):
            check_images(image[None], info, tuple(image.shape[1:]))
            boxes, labels = target["boxes"], target["labels"]
            require(boxes.dim() == 2 and boxes.shape[1] == 4 and labels.shape == boxes.shape[:1],
                    f"boxes must be (n, 4) with n labels, got {tuple(boxes.shape)} and {tuple(labels.shape)}")
            require(bool((labels < info.num_classes).all()), f"labels outside [0, {info.num_classes})")

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
        rpn_reg_weight: float = 0.0,
        head_reg_weight: float = 0.0,
        rpn_prior_weight: float = 0.0,
        head_prior_weight: float = 0.0,
        prior_score_thresh: float = 0.01,
        prior_nms: float = 0.3,
        bidet_from_epoch: int = 0,
        legacy_boxes: bool = True,
    ) -> None:
        super().__init__(model, optimizer, scheduler, no_decay_1d)
        self.save_hyperparameters(ignore=["model"])
        self.num_classes = num_classes
        self.bidet_weights = {"rpn_reg": rpn_reg_weight, "head_reg": head_reg_weight,
                              "rpn_prior": rpn_prior_weight, "head_prior": head_prior_weight}
        for name, w in self.bidet_weights.items():
            if w < 0:
                raise ValueError(f"{name}_weight must be >= 0 (0: off), got {w}")
        self.prior_score_thresh = prior_score_thresh
        self.prior_nms = prior_nms
        self.bidet_from_epoch = bidet_from_epoch
        self.legacy_boxes = bool(legacy_boxes)
        self._seen: dict[str, Any] = {}
        if any(w > 0 for w in self.bidet_weights.values()):
            self._watch(model)
        self.val_map = VOC07MAP(num_classes)
        self.test_map = VOC07MAP(num_classes)
        self.test_coco = coco_map() if coco_metric else None

    def _watch(self, model: nn.Module) -> None:
        """Hooks keeping, in training, what BiDet's losses read of a `BinaryFasterRCNN`."""
        rpn, heads = getattr(model, "rpn", None), getattr(model, "roi_heads", None)
        if rpn is None or heads is None or not hasattr(rpn.head, "readout"):
            raise ValueError(f"BiDet's losses need a bidet_r18 detector, got {type(model).__name__}")
        rpn.keep_scores = self.bidet_weights["rpn_prior"] > 0

        def keep(key: str, pick):  # type: ignore[no-untyped-def]
            def hook(module, args, out):  # type: ignore[no-untyped-def]
                if module.training:
                    self._seen.setdefault(key, []).append(pick(args, out))
            return hook

        rpn.head.readout.register_forward_hook(keep("rpn_feat", lambda a, o: o))
        heads.box_head.register_forward_hook(keep("roi_feat", lambda a, o: o))
        heads.box_predictor.register_forward_hook(keep("pred", lambda a, o: o))
        heads.box_roi_pool.register_forward_hook(keep("rois", lambda a, o: (a[1], a[2])))

    def bidet_weight(self, name: str, epoch: int) -> float:
        """The weight of BiDet's loss `name` at `epoch`: 0 before `bidet_from_epoch`."""
        return self.bidet_weights[name] if epoch >= self.bidet_from_epoch else 0.0

    def bidet_losses(self, targets: list[Target]) -> dict[str, Tensor]:
        """BiDet's weighted losses of the last training forward pass (those with weight > 0)."""
        seen, self._seen = self._seen, {}
        epoch = self.current_epoch if self._trainer is not None else 0
        w = {k: self.bidet_weight(k, epoch) for k in self.bidet_weights}
        out: dict[str, Tensor] = {}
        if self.bidet_weights["rpn_reg"] > 0:
            out["loss_rpn_reg"] = w["rpn_reg"] * compression_loss(seen["rpn_feat"][-1])
        if self.bidet_weights["head_reg"] > 0:
            out["loss_head_reg"] = w["head_reg"] * compression_loss(seen["roi_feat"][-1])
        if self.bidet_weights["rpn_prior"] > 0:
            out["loss_rpn_prior"] = w["rpn_prior"] * rpn_prior_loss(self.model.rpn.last_scores, targets)
        if self.bidet_weights["head_prior"] > 0:
            logits, deltas = seen["pred"][-1]
            proposals, sizes = seen["rois"][-1]
            heads = self.model.roi_heads
            per_image = [len(p) for p in proposals]
            if self.legacy_boxes:  # the authors' +1 pixel convention (decode, clip, NMS)
                boxes = torch.cat([legacy_decode(d, p, heads.box_coder.weights, s) for d, p, s in
                                   zip(deltas[:, :4].detach().split(per_image), proposals, sizes)])
            else:
                boxes = heads.box_coder.decode(deltas[:, :4].detach(), proposals)[:, 0]
                boxes = torch.cat([clip_boxes_to_image(b, s) for b, s in zip(boxes.split(per_image), sizes)])
            out["loss_head_prior"] = w["head_prior"] * head_prior_loss(
                logits.softmax(-1), boxes, per_image, targets, self.prior_score_thresh, self.prior_nms,
                self.legacy_boxes)
        return out

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
        if any(w > 0 for w in self.bidet_weights.values()):
            losses = {**losses, **self.bidet_losses(targets)}
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
