"""The digits data module on scikit-learn's real bundled digits."""

from __future__ import annotations

import torch

from bnnbench.data import build


def _module(**kwargs):
    dm = build("digits", **kwargs)
    dm.setup()
    return dm


def _labels(dataset) -> torch.Tensor:
    return dataset.labels


def test_counts_split_and_classes() -> None:
    dm = _module(seed=0)
    assert dm.task == "cls" and dm.num_classes == 10
    assert len(dm.train_set) + len(dm.val_set) + len(dm.test_set) == 1797
    # 30% held out (ceil(0.3 * 1797) = 540, as train_test_split rounds), a third of it for val
    assert len(dm.val_set) == 180 and len(dm.test_set) == 360
    for split in (dm.train_set, dm.val_set, dm.test_set):
        counts = torch.bincount(_labels(split), minlength=10)
        assert (counts > 0).all()
    # the test split is held out: none of its images is a val or train image
    test = {tuple(x.flatten().tolist()) for x, _ in dm.test_set}
    assert not test & {tuple(x.flatten().tolist()) for x, _ in dm.val_set}
    # stratified: every class is 20% of its own count in test, to within rounding
    total = torch.bincount(torch.cat([_labels(s) for s in (dm.train_set, dm.val_set, dm.test_set)]), minlength=10)
    held = torch.bincount(_labels(dm.test_set), minlength=10)
    assert ((held - 0.2 * total).abs() <= 1.5).all()


def test_shapes_and_normalization() -> None:
    dm = _module(batch_size=16)
    image, label = dm.train_set[0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert label.dtype == torch.int64
    assert torch.equal(image[0], image[1]) and torch.equal(image[0], image[2])
    train = dm.train_set.images
    assert abs(train.mean().item()) < 1e-4 and abs(train.std().item() - 1) < 1e-3
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (16, 3, 32, 32) and y.shape == (16,) and y.dtype == torch.int64

    raw = _module(normalize=False, image_size=[16, 24]).val_set.images
    assert raw.shape[1:] == (3, 16, 24) and raw.min() >= 0 and raw.max() <= 1


def test_split_is_deterministic_per_seed() -> None:
    a, b, c = _module(seed=3), _module(seed=3), _module(seed=4)
    assert torch.equal(a.val_set.images, b.val_set.images)
    assert torch.equal(_labels(a.val_set), _labels(b.val_set))
    assert not torch.equal(a.val_set.images, c.val_set.images)


def test_noise_is_fixed_per_data_seed_at_the_originals_resolution() -> None:
    clean = _module(normalize=False, image_size=[8, 8]).test_set.images
    noisy = _module(normalize=False, image_size=[8, 8], noise=0.3).test_set.images
    again = _module(normalize=False, image_size=[8, 8], noise=0.3).test_set.images
    assert torch.equal(noisy, again)  # a fixed data set, not an augmentation
    assert not torch.equal(noisy, _module(normalize=False, image_size=[8, 8], noise=0.3, seed=1).test_set.images)
    # at 8x8 bilinear resizing is the identity, so noisy - clean is the clamped N(0, 0.3^2) noise
    delta = noisy - clean
    inside = (noisy > 0) & (noisy < 1)
    assert 0.2 < delta[inside].std().item() < 0.35  # (clamping at 0 and 1 biases the kept values)
    assert torch.equal(delta[:, 0], delta[:, 1])  # one grey noise for the three channels
    try:
        build("digits", noise=-0.1)
    except ValueError as err:
        assert "noise must be >= 0, got -0.1" in str(err)
    else:
        raise AssertionError("negative noise accepted")
