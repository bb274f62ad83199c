"""VOC07 11-point mAP against hand-computed cases of the devkit's protocol."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bnnbench.metrics.voc_ap import VOC07MAP, eleven_point_ap, inclusive_iou


def pred(boxes, scores, labels):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "scores": torch.tensor(scores, dtype=torch.float32), "labels": torch.tensor(labels, dtype=torch.long)}


def gt(boxes, labels, difficult=None):
    n = len(labels)
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), "labels": torch.tensor(labels, dtype=torch.long),
            "difficult": torch.tensor(difficult or [False] * n, dtype=torch.bool)}


def test_plus_one_pixel_rule():
    # inclusive boxes: [0,0,2,1] is 3x2 px, [0,0,1,1] is 2x2 px, they share 4 px
    assert inclusive_iou(np.array([0.0, 0, 2, 1]), np.array([[0.0, 0, 1, 1]]))[0] == pytest.approx(4 / 6)


def test_eleven_point_ap_by_hand():
    # tp 1,0,1 of 2 positives: recall .5,.5,1, precision 1,.5,2/3
    assert eleven_point_ap(np.array([1.0, 0, 1]), 2) == pytest.approx((6 * 1 + 5 * 2 / 3) / 11)
    assert eleven_point_ap(np.array([0.0, 0]), 3) == 0.0
    assert math.isnan(eleven_point_ap(np.array([1.0]), 0))


def test_duplicate_is_a_false_positive():
    m = VOC07MAP(2)
    # continuous boxes; the second detection repeats the first, the third finds the other object
    m.update([pred([[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30]], [0.9, 0.8, 0.7], [1, 1, 1])],
             [gt([[0, 0, 10, 10], [20, 20, 30, 30]], [1, 1])])
    assert float(m.compute()) == pytest.approx((6 + 5 * 2 / 3) / 11, abs=1e-6)


def test_match_on_a_difficult_box_is_ignored():
    m = VOC07MAP(2)
    m.update([pred([[0, 0, 10, 10], [20, 20, 30, 30]], [0.9, 0.8], [1, 1])],
             [gt([[0, 0, 10, 10], [20, 20, 30, 30]], [1, 1], [True, False])])
    assert float(m.compute()) == pytest.approx(1.0)  # counted as a FP it would be 0.5 (tp 0,1)


def test_iou_of_exactly_half_is_a_miss():
    m = VOC07MAP(2)
    # continuous [0,0,10,5] vs [0,0,10,10]: inclusive 10x5 inside 10x10, IoU 0.5, not > 0.5
    m.update([pred([[0, 0, 10, 5]], [0.9], [1])], [gt([[0, 0, 10, 10]], [1])])
    assert float(m.compute()) == 0.0
    m.update([pred([[0, 0, 10, 6]], [0.5], [1])], [gt([[0, 0, 10, 10]], [1])])
    # second image: a hit at a lower score; tp 0,1 of 2 positives: precision .5 up to recall .5
    assert float(m.compute()) == pytest.approx(6 * 0.5 / 11)


def test_empty_classes_and_images():
    m = VOC07MAP(4)
    # class 1: found; class 2: has an object, never detected (AP 0); class 3: no positives
    # (left out of the mean, a detection of it changes nothing); an image without objects
    m.update([pred([[0, 0, 10, 10], [5, 5, 9, 9]], [0.9, 0.95], [1, 3]), pred([], [], [])],
             [gt([[0, 0, 10, 10], [40, 40, 50, 50]], [1, 2]), gt([], [])])
    aps = m.per_class()
    assert aps[0] == pytest.approx(1.0) and aps[1] == 0.0 and math.isnan(aps[2])
    assert float(m.compute()) == pytest.approx(0.5)


def test_detections_match_only_their_own_image():
    m = VOC07MAP(2)
    m.update([pred([[0, 0, 10, 10]], [0.9], [1]), pred([], [], [])], [gt([], []), gt([[0, 0, 10, 10]], [1])])
    assert float(m.compute()) == 0.0


def test_order_is_by_score_across_images():
    m = VOC07MAP(2)
    # image 1: a miss at 0.9; image 2: a hit at 0.8 -> tp 0,1 (not 1,0) of 2 positives
    m.update([pred([[50, 50, 60, 60]], [0.9], [1]), pred([[0, 0, 10, 10]], [0.8], [1])],
             [gt([[0, 0, 10, 10]], [1]), gt([[0, 0, 10, 10]], [1])])
    assert float(m.compute()) == pytest.approx(6 * 0.5 / 11)
