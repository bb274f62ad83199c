"""A C4 Faster R-CNN on torchvision's `FasterRCNN` whose binary parts are bnnbench blocks:
the RPN conv, the RoI head (a ResNet stage run once per RoI) and a class-agnostic predictor,
plus the fixed-RoI forward pass that cost counting measures.

Layout of BiDet (Wang et al. 2020; ZiweiWangTHU/BiDet@fc54511, faster_rcnn/lib/model/
faster_rcnn/{faster_rcnn.py,bidet_resnet.py}, rpn/rpn.py) on the torchvision detection API
(pytorch/vision v0.29, torchvision/models/detection/{faster_rcnn.py,rpn.py,roi_heads.py}).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.rpn import RegionProposalNetwork

from bnnbench.core.complexity import repeated
from bnnbench.models.layers import BlockChoice, Readout

COST_ROIS = 300  # RoIs per image at test time (BiDet's RPN post-NMS top-n): the head's cost is per RoI


def sample_deltas(out: Tensor, sigma: float, training: bool) -> Tensor:
    """BiDet's information-bottleneck box deltas (Wang et al. 2020, Eq. 4's reparameterisation as
    ZiweiWangTHU/BiDet faster_rcnn/lib/model/rpn/rpn.py and faster_rcnn.py code it): `out` holds
    (log variance, mean) in groups of 8 along the last axis; in training the deltas are
    mean + exp(logvar / 2) * eps * sigma with eps ~ N(0, 1), at test the mean."""
    grouped = out.reshape(*out.shape[:-1], -1, 8)
    logvar, mu = grouped[..., :4], grouped[..., 4:]
    if training:
        mu = mu + torch.exp(logvar / 2.0) * torch.randn_like(mu) * sigma
    return mu.reshape(*out.shape[:-1], -1)


class TrunkBackbone(nn.Sequential):
    """The image trunk as torchvision's detectors want it: a module with `out_channels`."""

    def __init__(self, *layers: nn.Module, out_channels: int) -> None:
        super().__init__(*layers)
        self.out_channels = out_channels


class BinaryRPNHead(nn.Module):
    """One 3x3 conv slot of the block choice (BiDet: binary conv -> BN, no ReLU, no shortcut),
    the base width read back from expanded features, then real 1x1 objectness and box convs."""

    def __init__(
        self,
        block: BlockChoice,
        in_channels: int,
        channels: int,
        num_anchors: int,
        readout: str = "first",
        ib_sample_sigma: float = 0.0,
    ) -> None:
        super().__init__()
        overrides = {"shortcut": False} if block.accepts("shortcut") else {}
        self.conv = block(in_channels, channels, 3, 1, 1, **overrides)
        # BiDet's RPN conv starts at normal(0, 0.01), bias 0 (ZiweiWangTHU/BiDet@86ea442
        # faster_rcnn/lib/model/faster_rcnn/faster_rcnn.py, _init_weights), not at the binarizer's
        # own init; a learned weight scale is fitted again to the new weights
        for conv in self.conv.modules():
            if isinstance(conv, nn.Conv2d):
                nn.init.normal_(conv.weight, std=0.01)
                if conv.bias is not None:
                    nn.init.zeros_(conv.bias)
                if hasattr(conv, "weight_binarizer"):
                    conv.weight_binarizer.bind(conv.weight)
        self.readout = Readout(channels, block.expansion, readout)
        self.ib_sample_sigma = ib_sample_sigma  # > 0: (log variance, mean) per anchor, sampled deltas
        self.cls_logits = nn.Conv2d(channels, num_anchors, 1)
        self.bbox_pred = nn.Conv2d(channels, num_anchors * (8 if ib_sample_sigma > 0 else 4), 1)
        for layer in (self.cls_logits, self.bbox_pred):  # torchvision's RPNHead init
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)

    def forward(self, features: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        logits, deltas = [], []
        for x in features:
            t = self.readout(self.conv(x))
            logits.append(self.cls_logits(t))
            d = self.bbox_pred(t)
            if self.ib_sample_sigma > 0:
                d = sample_deltas(d.permute(0, 2, 3, 1), self.ib_sample_sigma, self.training).permute(0, 3, 1, 2)
            deltas.append(d)
        return logits, deltas


class RoIStageHead(nn.Module):
    """The last ResNet stage run on each pooled RoI, the base width read back, spatial mean."""

    def __init__(self, stage: nn.Module, channels: int, expansion: int = 1, readout: str = "first") -> None:
        super().__init__()
        self.stage = stage
        self.readout = Readout(channels, expansion, readout)
        self.out_channels = channels

    def forward(self, x: Tensor) -> Tensor:
        return self.readout(self.stage(x)).mean(dim=(2, 3))


class AgnosticBoxPredictor(nn.Module):
    """Real Linear class scores and one class-agnostic box delta, repeated for every class
    (the (N, K*4) layout torchvision's RoIHeads decode)."""

    def __init__(self, channels: int, num_classes: int, ib_sample_sigma: float = 0.0) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.ib_sample_sigma = ib_sample_sigma  # > 0: (log variance, mean) of the deltas, sampled
        self.cls_score = nn.Linear(channels, num_classes)
        self.bbox_pred = nn.Linear(channels, 8 if ib_sample_sigma > 0 else 4)
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.zeros_(self.cls_score.bias)
        nn.init.zeros_(self.bbox_pred.bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        deltas = self.bbox_pred(x)
        if self.ib_sample_sigma > 0:
            deltas = sample_deltas(deltas, self.ib_sample_sigma, self.training)
        return self.cls_score(x), deltas.repeat(1, self.num_classes)


def spread_rois(count: int, height: int, width: int, device: torch.device | None = None) -> Tensor:
    """`count` boxes (x1, y1, x2, y2) of a quarter of the image side, spread over the image:
    stand-ins for proposals (the head's cost does not depend on where the boxes are)."""
    t = torch.linspace(0.0, 1.0, count, device=device)
    bw, bh = width / 4.0, height / 4.0
    x1 = t * (width - bw)
    y1 = torch.remainder(t * 7.0, 1.0) * (height - bh)
    return torch.stack([x1, y1, x1 + bw, y1 + bh], dim=1)


class ScoreKeepingRPN(RegionProposalNetwork):
    """torchvision's RPN that, while `keep_scores` is set, keeps each image's post-NMS
    foreground probabilities in `last_scores` (BiDet's RPN sparse prior reads them; like
    BiDet's proposal layer, which reads `rpn_cls_prob.data`, they carry no gradient)."""

    keep_scores: bool = False

    def filter_proposals(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        boxes, scores = super().filter_proposals(*args, **kwargs)
        if self.keep_scores:
            self.last_scores = scores
        return boxes, scores


class BinaryFasterRCNN(FasterRCNN):
    """torchvision's FasterRCNN (loss dict in train mode, detections in eval mode) with the
    forward pass `bnnbench.core.complexity.count` measures: trunk and RPN on the given input, the
    RoI head on exactly `cost_rois` RoIs (the transform's resize and normalisation skipped)."""

    cost_rois: int = COST_ROIS

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.rpn.__class__ = ScoreKeepingRPN  # same state, one overridden method

    def cost_forward(self, images: Tensor) -> Tensor:
        """Trunk, RPN head and RoI head on `cost_rois` RoIs per image, as cost counting runs it."""
        h, w = images.shape[-2:]
        features = self.backbone(images)
        feats = OrderedDict([("0", features)])
        self.rpn.head([features])
        rois = spread_rois(self.cost_rois, h, w, images.device)
        pooled = self.roi_heads.box_roi_pool(feats, [rois] * images.shape[0], [(h, w)] * images.shape[0])
        # cost counting reads the first sample of a batch: one RoI, counted cost_rois times
        with repeated(self.cost_rois):
            scores, _ = self.roi_heads.box_predictor(self.roi_heads.box_head(pooled[:1]))
        return scores


def check_anchors(sizes: Sequence[int], ratios: Sequence[float]) -> None:
    """Raise naming the values when anchor sizes or aspect ratios are empty or not positive."""
    if not sizes or any(s <= 0 for s in sizes):
        raise ValueError(f"anchor_sizes must be positive pixel sizes, got {list(sizes)}")
    if not ratios or any(r <= 0 for r in ratios):
        raise ValueError(f"anchor_ratios must be positive, got {list(ratios)}")


__all__ = [
    "COST_ROIS",
    "AgnosticBoxPredictor",
    "BinaryFasterRCNN",
    "BinaryRPNHead",
    "RoIStageHead",
    "ScoreKeepingRPN",
    "TrunkBackbone",
    "check_anchors",
    "sample_deltas",
    "spread_rois",
]
