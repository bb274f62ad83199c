"""DepthMetrics and eval crops against hand computations (Eigen et al. 2014 metrics, BTS eval)."""

from __future__ import annotations

import math

import pytest
import torch

from bnnbench.metrics import DEPTH_METRIC_NAMES, DepthMetrics, eval_crop_mask


def _two_images() -> tuple[torch.Tensor, torch.Tensor]:
    """Two 2x2 depth maps, 0 = no GT, 9 >= max_depth (8) = invalid."""
    gt = torch.tensor([[[2.0, 4.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 9.0]]]).unsqueeze(1)
    pred = torch.tensor([[[2.0, 2.0], [7.0, 7.0]], [[1.0, 3.0], [3.0, 3.0]]]).unsqueeze(1)
    return pred, gt


def test_per_image_metrics_match_hand_computation() -> None:
    # Valid pixels: image A gt (2, 4) pred (2, 2); image B gt (1) pred (1).
    # Eigen et al. 2014 / BTS compute_errors, per image then averaged over the 2 images:
    #   ratio A = max(gt/pred, pred/gt) = (1, 2); B = (1)
    #   d1: A 1/2 (2 >= 1.25), B 1      -> 0.75  (pooled pixels would give 2/3)
    #   d2, d3: 2 >= 1.5625 and 2 >= 1.953 -> same as d1 = 0.75
    #   AbsRel = mean|gt-pred|/gt: A (0 + 2/4)/2 = 0.25, B 0 -> 0.125 (pooled: 1/6)
    #   SqRel = mean (gt-pred)^2/gt: A (0 + 4/4)/2 = 0.5, B 0 -> 0.25
    #   RMSE: A sqrt(4/2) = sqrt 2, B 0 -> sqrt(2)/2 (pooled: sqrt(4/3))
    #   RMSE log: A sqrt((0 + ln2^2)/2) = ln2/sqrt2, B 0 -> ln2/(2 sqrt2)
    #   log10 = mean|log10 pred - log10 gt|: A log10(2)/2, B 0 -> log10(2)/4
    #   SILog (BTS eval) = 100 sqrt(mean e^2 - (mean e)^2), e = ln pred - ln gt = (0, -ln2):
    #     A 100 sqrt(ln2^2/2 - ln2^2/4) = 50 ln2, B 0 -> 25 ln2
    metric = DepthMetrics(min_depth=0.5, max_depth=8.0)
    pred, gt = _two_images()
    metric.update(pred, gt)
    out = metric.compute()
    ln2 = math.log(2.0)
    expected = {
        "d1": 0.75,
        "d2": 0.75,
        "d3": 0.75,
        "abs_rel": 0.125,
        "sq_rel": 0.25,
        "rmse": math.sqrt(2) / 2,
        "rmse_log": ln2 / (2 * math.sqrt(2)),
        "log10": math.log10(2) / 4,
        "silog": 25 * ln2,
    }
    assert set(out) == set(DEPTH_METRIC_NAMES)
    for name, value in expected.items():
        assert out[name].item() == pytest.approx(value, rel=1e-6), name
    # Per-image averaging is what is measured, not pooled pixels
    assert out["d1"].item() != pytest.approx(2 / 3)
    assert out["abs_rel"].item() != pytest.approx(1 / 6)


def test_accumulates_over_updates_and_resets() -> None:
    # Same two images fed one per update: per-image sums + count give the same means
    pred, gt = _two_images()
    metric = DepthMetrics(min_depth=0.5, max_depth=8.0)
    metric.update(pred[:1], gt[:1])
    metric.update(pred[1:], gt[1:])
    assert metric.compute()["abs_rel"].item() == pytest.approx(0.125)
    assert int(metric.count) == 2
    metric.reset()
    assert int(metric.count) == 0


def test_prediction_capped_and_gt_range_masked() -> None:
    # min 1, max 8: pred (0.5, 100, inf) -> clamped (1, 8, 8) as in BTS eval;
    # gt 1 and 8 are outside the open range (min, max) and so ignored.
    # Valid: gt (2, 4, 4) vs pred (1, 8, 8): ratio 2, 2, 2 -> d1 = 0
    #   AbsRel = (1/2 + 4/4 + 4/4)/3 = 5/6 ; RMSE = sqrt((1 + 16 + 16)/3) = sqrt(11)
    metric = DepthMetrics(min_depth=1.0, max_depth=8.0)
    gt = torch.tensor([[2.0, 4.0, 4.0, 1.0, 8.0]]).view(1, 1, 1, 5)
    pred = torch.tensor([[0.5, 100.0, float("inf"), 3.0, 3.0]]).view(1, 1, 1, 5)
    metric.update(pred, gt)
    out = metric.compute()
    assert out["d1"].item() == 0.0
    assert out["abs_rel"].item() == pytest.approx(5 / 6)
    assert out["rmse"].item() == pytest.approx(math.sqrt(11))


def test_image_without_valid_pixels_is_skipped() -> None:
    metric = DepthMetrics(min_depth=0.5, max_depth=8.0)
    metric.update(torch.ones(2, 1, 3, 3), torch.zeros(2, 1, 3, 3))
    assert int(metric.count) == 0
    assert torch.isnan(metric.compute()["rmse"])


def test_eigen_nyu_crop_on_480x640_and_scaled() -> None:
    # Eigen NYU crop: rows 45:471, cols 41:601 on 480x640
    mask = eval_crop_mask("eigen_nyu", 480, 640)
    assert mask.shape == (480, 640) and mask.dtype == torch.bool
    rows, cols = mask.any(dim=1).nonzero().flatten(), mask.any(dim=0).nonzero().flatten()
    assert (rows[0].item(), rows[-1].item()) == (45, 470)
    assert (cols[0].item(), cols[-1].item()) == (41, 600)
    assert int(mask.sum()) == 426 * 560
    # half size: 45*240//480 = 22, 471*240//480 = 235, 41*320//640 = 20, 601*320//640 = 300
    half = eval_crop_mask("eigen_nyu", 240, 320)
    assert int(half.sum()) == (235 - 22) * (300 - 20)
    assert half[22, 20] and not half[21, 20] and not half[22, 19] and half[234, 299]
    assert not half[235, 299] and not half[234, 300]


def test_kitti_crops_on_375x1242() -> None:
    # Garg crop: rows int(0.40810811*375)=153 : int(0.99189189*375)=371,
    #            cols int(0.03594771*1242)=44 : int(0.96405229*1242)=1197
    garg = eval_crop_mask("garg", 375, 1242)
    assert int(garg.sum()) == (371 - 153) * (1197 - 44)
    assert garg[153, 44] and garg[370, 1196] and not garg[152, 44] and not garg[371, 1196]
    # Eigen KITTI crop: rows int(0.3324324*375)=124 : int(0.91351351*375)=342, cols as Garg
    eigen = eval_crop_mask("eigen_kitti", 375, 1242)
    assert int(eigen.sum()) == (342 - 124) * (1197 - 44)
    assert eigen[124, 44] and not eigen[123, 44] and not eigen[342, 44]


def test_no_crop_and_unknown_crop() -> None:
    assert bool(eval_crop_mask(None, 4, 5).all())
    with pytest.raises(ValueError, match="eigen_nyu, garg, eigen_kitti"):
        eval_crop_mask("eigen", 4, 5)
    with pytest.raises(ValueError, match="valid choices"):
        DepthMetrics(eval_crop="nyu")


def test_crop_is_intersected_with_valid_mask() -> None:
    # 48x64 (Eigen NYU crop scaled: rows 45*48//480=4 : 471*48//480=47,
    # cols 41*64//640=4 : 601*64//640=60), gt 2 m except one pixel without GT inside the crop;
    # pred 2 inside the crop, 4 outside and 4 on the no-GT pixel.
    # Cropped: only the 43*56 - 1 valid crop pixels count -> d1 = 1, AbsRel = 0.
    # Uncropped: d1 = (43*56 - 1) / (48*64 - 1).
    gt = torch.full((1, 1, 48, 64), 2.0)
    gt[..., 10, 10] = 0.0
    pred = torch.full_like(gt, 4.0)
    pred[..., 4:47, 4:60] = 2.0
    pred[..., 10, 10] = 4.0
    cropped = DepthMetrics(min_depth=0.1, max_depth=10.0, eval_crop="eigen_nyu")
    cropped.update(pred, gt)
    assert cropped.compute()["d1"].item() == 1.0
    assert cropped.compute()["abs_rel"].item() == 0.0
    full = DepthMetrics(min_depth=0.1, max_depth=10.0)
    full.update(pred, gt)
    assert full.compute()["d1"].item() == pytest.approx((43 * 56 - 1) / (48 * 64 - 1))
