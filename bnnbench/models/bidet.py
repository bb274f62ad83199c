"""`bidet_r18`: BiDet's binary Faster R-CNN (Wang et al. 2020) on bnnbench's ResNet-18.

C4 layout as ZiweiWangTHU/BiDet@fc54511 (faster_rcnn/lib/model/faster_rcnn/bidet_resnet.py):
trunk = ResNet-18 stem + stages 1-3 (stride 16), RoI head = stage 4 on RoIAlign 7x7 and a
spatial mean, RPN = one binary 3x3 conv -> BN and real 1x1s, real Linear class scores and
class-agnostic box deltas. Every 3x3 conv (12 in the trunk, 4 in the head, the RPN's) is a
slot of the block choice, so `binarizer=` and `block=` (es included) reach all 17.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.ops import MultiScaleRoIAlign

from bnnbench.blocks.conv import BinarizerLike
from bnnbench.core.checkpoint import read_state_dict
from bnnbench.models import MODELS
from bnnbench.models.faster_rcnn import (
    AgnosticBoxPredictor,
    BinaryFasterRCNN,
    BinaryRPNHead,
    RoIStageHead,
    TrunkBackbone,
    check_anchors,
)
from bnnbench.models.layers import BlockChoice
from bnnbench.models.resnet import ResNet

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TRUNK_SLOTS = 12  # 3x3 conv slots of stages 1-3 (2 basic blocks x 2 convs each)


def load_trunk(resnet: ResNet, path: str) -> None:
    """Load the stem and stages of a bnnbench `resnet18` classification checkpoint (its
    classifier head is left out); a mismatch names the keys that differ."""
    state = {k: v for k, v in read_state_dict(path, "model.backbone_ckpt").items() if not k.startswith("head.")}
    own = {k: v for k, v in resnet.state_dict().items() if not k.startswith("head.")}
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        raise ValueError(
            f"backbone_ckpt {path} does not fit resnet18 with these widths and block: missing "
            f"{missing[:3]}, unexpected {unexpected[:3]}, other shapes {shapes[:3]}"
        )
    resnet.load_state_dict(state, strict=False)


@MODELS.register("bidet_r18", output="detections", natural_block="bireal")
def bidet_r18(
    block: str | Mapping[str, Any] | None = "bireal",
    binarizer: BinarizerLike = "bireal",
    num_classes: int = 21,
    in_channels: int = 3,
    input_size: Sequence[int] = (600, 800),
    widths: Sequence[int] = (64, 128, 256, 512),
    anchor_sizes: Sequence[int] = (128, 256, 512),
    anchor_ratios: Sequence[float] = (0.5, 1.0, 2.0),
    min_size: int | None = None,
    max_size: int | None = None,
    rpn_pre_nms_train: int = 12000,
    rpn_post_nms_train: int = 2000,
    rpn_pre_nms_test: int = 6000,
    rpn_post_nms_test: int = 300,
    rpn_nms: float = 0.7,
    rpn_batch: int = 256,
    roi_batch: int = 256,
    score_thresh: float = 0.0,
    nms_thresh: float = 0.3,
    detections_per_img: int = 100,
    readout: str = "first",
    backbone_ckpt: str | None = None,
    ib_sample_sigma: float = 0.0,
) -> BinaryFasterRCNN:
    """BiDet's ResNet-18 Faster R-CNN (settings of its VOC recipe); `num_classes` counts the
    background. `min_size`/`max_size` (the detector's resize) default to the input's short and
    long side, so inputs of `input_size` pass unresized. `ib_sample_sigma` > 0 switches on BiDet's
    information-bottleneck box deltas (RPN and RoI head predict a log variance and a mean; training
    samples mean + exp(logvar/2) * eps * sigma, test uses the mean; BiDet: 0.001); 0 keeps the
    plain 4-delta outputs."""
    if ib_sample_sigma < 0:
        raise ValueError(f"ib_sample_sigma must be >= 0 (0: off), got {ib_sample_sigma}")
    if len(widths) != 4:
        raise ValueError(f"widths must give the 4 ResNet-18 stage widths, got {list(widths)}")
    if num_classes < 2:
        raise ValueError(f"num_classes must count the background and at least one class, got {num_classes}")
    check_anchors(anchor_sizes, anchor_ratios)
    choice = BlockChoice(block if block is not None else "bireal", binarizer, "bireal")
    e = choice.expansion
    resnet = ResNet(choice, widths, (2, 2, 2, 2), 1, in_channels, imagenet_stem=True, readout=readout)
    if backbone_ckpt:
        load_trunk(resnet, backbone_ckpt)
    trunk = TrunkBackbone(resnet.stem, *resnet.features[:TRUNK_SLOTS], out_channels=widths[2] * e)
    stage4 = resnet.features[TRUNK_SLOTS:]
    num_anchors = len(anchor_sizes) * len(anchor_ratios)
    return BinaryFasterRCNN(
        trunk,
        min_size=min_size or min(input_size),
        max_size=max_size or max(input_size),
        image_mean=list(IMAGENET_MEAN),
        image_std=list(IMAGENET_STD),
        rpn_anchor_generator=AnchorGenerator((tuple(anchor_sizes),), (tuple(anchor_ratios),)),
        rpn_head=BinaryRPNHead(choice, widths[2], widths[3], num_anchors, readout, ib_sample_sigma),
        rpn_pre_nms_top_n_train=rpn_pre_nms_train,
        rpn_pre_nms_top_n_test=rpn_pre_nms_test,
        rpn_post_nms_top_n_train=rpn_post_nms_train,
        rpn_post_nms_top_n_test=rpn_post_nms_test,
        rpn_nms_thresh=rpn_nms,
        rpn_batch_size_per_image=rpn_batch,
        box_roi_pool=MultiScaleRoIAlign(["0"], 7, 0),
        box_head=RoIStageHead(stage4, widths[3], e, readout),
        box_predictor=AgnosticBoxPredictor(widths[3], num_classes, ib_sample_sigma),
        box_score_thresh=score_thresh,
        box_nms_thresh=nms_thresh,
        box_detections_per_img=detections_per_img,
        box_batch_size_per_image=roi_batch,
    )
