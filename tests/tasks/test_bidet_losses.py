"""BiDet's additions to the detection task (Wang et al., CVPR 2020): each term against a hand
computation, the weight schedule, the sampled box deltas, and one training epoch with all on."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
import torchvision

from bnnbench import data, models
from bnnbench.models.faster_rcnn import sample_deltas
from bnnbench.tasks.detection import (
    DetectionTask,
    compression_loss,
    head_prior_loss,
    prior_entropy,
    rpn_prior_loss,
)

TINY = {"widths": [8, 8, 16, 16], "anchor_sizes": [16, 32], "roi_batch": 8, "rpn_post_nms_test": 20}
ALL_ON = {"rpn_reg_weight": 0.5, "head_reg_weight": 0.02, "rpn_prior_weight": 0.01, "head_prior_weight": 0.05}


def _target(*labels: int) -> dict:
    return {"labels": torch.tensor(labels), "boxes": torch.zeros(len(labels), 4)}


def test_compression_is_the_mean_square():
    # BiDet Eq. 6 (I(X; F) bound), as its code: (feat ** 2).mean()
    assert float(compression_loss(torch.tensor([[1.0, 2.0], [3.0, -1.0]]))) == pytest.approx(15 / 4)


def test_prior_entropy_by_hand():
    # BiDet Eq. 7-8, as its code: p = s / sum(s), -sum p log(p + 1e-6) / gt
    want = -(0.25 * math.log(0.25 + 1e-6) + 0.75 * math.log(0.75 + 1e-6)) / 2
    assert float(prior_entropy(torch.tensor([1.0, 3.0]), 2)) == pytest.approx(want, rel=1e-6)


def test_prior_entropy_keeps_the_normaliser_constant():
    s = torch.tensor([1.0, 3.0], requires_grad=True)
    prior_entropy(s, 1).backward()
    p = torch.tensor([0.25, 0.75])  # d/ds_i of -sum (s_i/S) log(s_i/S) with S fixed
    assert torch.allclose(s.grad, -(torch.log(p + 1e-6) + p / (p + 1e-6)) / 4.0, atol=1e-5)


def test_rpn_prior_averages_images_per_gt_box():
    scores = [torch.tensor([0.5, 0.5]), torch.tensor([0.9])]
    want = (math.log(2) / 2 + 0.0) / 2  # uniform over 2 with 2 GT boxes; one score: p = 1
    got = rpn_prior_loss(scores, [_target(1, 2), _target(3)])
    assert float(got) == pytest.approx(want, abs=1e-5)


def test_head_prior_by_hand():
    # 3 RoIs, class 1 present once: the third is under the 0.01 threshold, the first two are
    # disjoint so NMS keeps both (2 > 1 GT): entropy of (0.5, 0.3) / 0.8
    probs = torch.tensor([[0.4, 0.5, 0.1], [0.6, 0.3, 0.1], [0.9, 0.005, 0.095]])
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0], [40.0, 40.0, 50.0, 50.0]])
    p = torch.tensor([0.5, 0.3]) / 0.8
    want = float(-(p * torch.log(p + 1e-6)).sum())
    got = head_prior_loss(probs, boxes, [3], [_target(1)], 0.01, 0.3)
    assert float(got) == pytest.approx(want, rel=1e-5)
    # the second box overlapping the first: NMS keeps one box, not more than the GT count -> skipped
    boxes[1] = torch.tensor([1.0, 1.0, 10.0, 10.0])
    assert float(head_prior_loss(probs, boxes, [3], [_target(1)], 0.01, 0.3)) == 0.0


def test_sampled_deltas_mean_at_test_reparameterised_in_training():
    out = torch.tensor([[0.0, 0.0, 2.0, -2.0, 1.0, 2.0, 3.0, 4.0]])  # (logvar, mean) of one box
    assert torch.equal(sample_deltas(out, 0.001, training=False), out[:, 4:])
    torch.manual_seed(0)
    got = sample_deltas(out, 0.5, training=True)
    torch.manual_seed(0)
    eps = torch.randn(1, 1, 4).reshape(1, 4)
    assert torch.allclose(got, out[:, 4:] + torch.exp(out[:, :4] / 2) * eps * 0.5)


def test_weights_are_zero_until_the_first_decay():
    model = models.build("bidet_r18", num_classes=3, input_size=(64, 64), **TINY)
    # BiDet switches its losses on at its 1-based epoch 7 (the first LR decay): 0-based epoch 6
    task = DetectionTask(model, 3, coco_metric=False, bidet_from_epoch=6, **ALL_ON)
    assert [task.bidet_weight("head_prior", e) for e in (0, 5, 6, 30)] == [0.0, 0.0, 0.05, 0.05]
    assert task.bidet_weight("rpn_reg", 5) == 0.0 and task.bidet_weight("rpn_reg", 6) == 0.5


def test_off_by_default_and_model_unchanged():
    model = models.build("bidet_r18", num_classes=3, input_size=(64, 64), **TINY)
    assert model.roi_heads.box_predictor.bbox_pred.out_features == 4
    assert DetectionTask(model, 3, coco_metric=False).bidet_weights == dict.fromkeys(
        ("rpn_reg", "head_reg", "rpn_prior", "head_prior"), 0.0)


def test_one_epoch_with_all_additions_on():
    torch.manual_seed(0)
    dm = data.build("gen_det", train_size=8, val_size=4, test_size=4, batch_size=4, image_size=(64, 64))
    model = models.build("bidet_r18", num_classes=dm.num_classes, input_size=(64, 64), ib_sample_sigma=0.001, **TINY)
    assert model.roi_heads.box_predictor.bbox_pred.out_features == 8
    task = DetectionTask.from_data(model, dm.info, optimizer={"name": "adam", "lr": 1e-3},
                                   scheduler={"name": "none"}, coco_metric=False, **ALL_ON)
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(task, datamodule=dm)
    metrics = trainer.callback_metrics
    for name in ("loss", "loss_rpn_reg", "loss_head_reg", "loss_rpn_prior", "loss_head_prior"):
        assert math.isfinite(float(metrics[f"train/{name}"])), name
    assert float(metrics["train/loss_rpn_reg"]) > 0 and float(metrics["train/loss_head_reg"]) > 0
    assert 0.0 <= trainer.test(task, datamodule=dm, verbose=False)[0]["test/mAP"] <= 1.0


def test_the_head_prior_uses_bidets_plus_one_pixel_boxes_by_default():
    # ZiweiWangTHU/BiDet@86ea442: boxes cover x2 - x1 + 1 pixels in its NMS and bbox_transform_inv,
    # and clip to W - 1. A = [0, 0, 3, 3], B = [2, 0, 5, 3]: +1 convention, overlap 2 x 4 = 8 of
    # union 16 + 16 - 8 = 24, IoU 1/3 > 0.3 (B suppressed); continuous, 1 x 3 = 3 of 15, IoU 0.2 (kept)
    from bnnbench.tasks.detection import head_prior_loss, legacy_decode, legacy_nms

    boxes = torch.tensor([[0.0, 0, 3, 3], [2.0, 0, 5, 3]])
    scores = torch.tensor([0.9, 0.8])
    assert legacy_nms(boxes, scores, 0.3).tolist() == [0]
    assert torchvision.ops.nms(boxes, scores, 0.3).tolist() == [0, 1]
    probs = torch.tensor([[0.1, 0.9], [0.2, 0.8]])
    target = [{"labels": torch.tensor([1]), "boxes": torch.tensor([[0.0, 0, 3, 3]])}]
    # one box kept for one ground truth: skipped (the code's `score.size(0) <= gt_num`); two kept: the entropy
    assert float(head_prior_loss(probs, boxes, [2], target, 0.01, 0.3, legacy=True)) == 0.0
    p = torch.tensor([0.9, 0.8]) / 1.7
    want = -(p * torch.log(p + 1e-6)).sum()
    assert float(head_prior_loss(probs, boxes, [2], target, 0.01, 0.3, legacy=False)) == pytest.approx(float(want))
    # decoding zero deltas: widths 10 x 20 from [0, 0, 9, 19] give [0, 0, 10, 20], clipped to [0, W - 1]
    decoded = legacy_decode(torch.zeros(1, 4), torch.tensor([[0.0, 0, 9, 19]]), (10.0, 10.0, 5.0, 5.0), (15, 8))
    assert decoded.tolist() == [[0.0, 0.0, 7.0, 14.0]]
    assert legacy_decode(torch.zeros(1, 4), torch.tensor([[0.0, 0, 9, 19]]), (10.0, 10.0, 5.0, 5.0),
                         (40, 40)).tolist() == [[0.0, 0.0, 10.0, 20.0]]
