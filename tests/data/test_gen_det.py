"""Generated detection set: valid boxes, difficult flags, a fixed held-out test split, a zero baseline."""

from __future__ import annotations

import pytest
import torch

from bnnbench.data import build
from bnnbench.data.detection import detection_collate, hflip
from bnnbench.metrics.voc_ap import VOC07MAP


@pytest.fixture(scope="module")
def dm():
    dm = build("gen_det", train_size=64, val_size=8, test_size=40, seed=0)
    dm.setup("fit")
    return dm


def test_targets_are_valid_boxes_of_known_classes(dm):
    assert dm.info.kind == "det" and dm.info.num_classes == 4
    n_boxes, n_difficult = 0, 0
    for image, target in dm.train_set:
        assert image.shape == (3, 128, 128) and 0.0 <= image.min() and image.max() <= 1.0
        boxes = target["boxes"]
        assert boxes.shape[1] == 4 and 1 <= len(boxes) <= 3
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
        assert boxes.min() >= 0 and boxes[:, [0, 2]].max() <= 128 and boxes[:, [1, 3]].max() <= 128
        sides = boxes[:, 2:] - boxes[:, :2]
        assert sides.min() >= 0.16 * 128 - 2 and sides.max() <= 0.5 * 128 + 1  # triangles lose a pixel or two
        assert set(target["labels"].tolist()) <= {1, 2, 3}
        n_boxes += len(boxes)
        n_difficult += int(target["difficult"].sum())
    assert 0 < n_difficult < 0.3 * n_boxes


def test_samples_are_deterministic_and_the_test_split_does_not_follow_the_seed(dm):
    a, b = dm.train_set[3], dm.train_set[3]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1]["boxes"], b[1]["boxes"])
    other = build("gen_det", train_size=64, val_size=8, test_size=40, seed=1)
    other.setup("fit")
    assert not torch.equal(other.train_set[3][0], a[0])
    assert torch.equal(other.test_set[5][0], dm.test_set[5][0])
    assert torch.equal(other.val_set[2][0], dm.val_set[2][0]) and not torch.equal(dm.val_set[2][0], dm.test_set[2][0])


def test_batches_are_lists(dm):
    images, targets = next(iter(dm.train_dataloader()))
    assert isinstance(images, list) and len(images) == 8 and isinstance(targets[0], dict)
    assert detection_collate([dm.train_set[0]])[0][0].shape == (3, 128, 128)


def test_flip_mirrors_boxes():
    image = torch.zeros(3, 10, 20)
    image[:, 2:4, 1:5] = 1
    target = {"boxes": torch.tensor([[1.0, 2, 5, 4]]), "labels": torch.tensor([1])}
    flipped, t = hflip(image, target)
    assert t["boxes"].tolist() == [[15.0, 2, 19, 4]]
    assert flipped[0, 2:4, 15:19].eq(1).all() and flipped.sum() == image.sum()


def test_whole_image_box_baseline_scores_zero(dm):
    metric = VOC07MAP(dm.num_classes)
    whole = torch.tensor([[0.0, 0, 128, 128]] * 3)
    for _, target in dm.test_set:
        metric.update([{"boxes": whole, "scores": torch.ones(3), "labels": torch.tensor([1, 2, 3])}], [target])
    assert float(metric.compute()) == 0.0
