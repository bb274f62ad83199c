"""Corrupted test splits (ImageNet-C, Hendrycks & Dietterich 2019, through imagecorruptions-imaug):
only the input image changes, the draws are fixed by (seed, image, corruption, severity), and no
corruption is the clean test exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bnnbench.core.registry import DATASETS
from bnnbench.data.corruption import COMMON, CorruptedSet, Corruption, grid

# every task's default data, sized down (each sample is at least 32x32, as the corruptions need)
DEFAULTS = {
    "digits": {},
    "gen_seg": {"train_size": 8, "val_size": 4},
    "gen_depth": {"train_size": 8, "val_size": 4},
    "gen_det": {"train_size": 8, "val_size": 4, "test_size": 4},
    "gen_sr": {"train_size": 8},
}


def _test_split(name: str):
    import bnnbench.data  # noqa: F401  (fills the registry)

    dm = DATASETS.build(name, **DEFAULTS[name])
    dm.setup("test")
    return dm


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_only_the_input_image_changes_and_the_same_seed_gives_the_same_images(name):
    dm = _test_split(name)
    clean = dm.test_set or dm.val_set
    cell = Corruption("shot_noise", 3, seed=0)
    corrupted = CorruptedSet(clean, cell, dm.pixel_stats())
    for i in range(2):
        image, *target = clean[i]
        bad, *bad_target = corrupted[i]
        assert all(_same(t, u) for t, u in zip(target, bad_target))  # masks, depths, boxes, HR: untouched
        assert bad.shape == image.shape and bad.dtype == image.dtype and not torch.equal(bad, image)
        assert torch.equal(bad, CorruptedSet(clean, cell, dm.pixel_stats())[i][0])  # seeded per image
    other_seed = CorruptedSet(clean, Corruption("shot_noise", 3, seed=1), dm.pixel_stats())
    assert not torch.equal(other_seed[0][0], corrupted[0][0])
    assert not torch.equal(corrupted[0][0], corrupted[1][0]) or name == "gen_sr"


def test_no_corruption_and_severity_0_are_the_clean_test_exactly():
    dm = _test_split("gen_seg")
    assert grid(None) == [] and grid("none") == [] and grid("fog", 0) == []
    clean = [b[0] for b in dm.test_dataloader()]
    dm.corruption = None
    again = [b[0] for b in dm.test_dataloader()]
    assert all(torch.equal(a, b) for a, b in zip(clean, again))
    dm.corruption = Corruption("fog", 2)
    assert not torch.equal(next(iter(dm.test_dataloader()))[0], clean[0])


def test_the_image_is_the_package_corruption_of_its_8_bit_pixels():
    # gen_seg normalises pixels p in [0, 1] as (p - 0.5) / 0.25: back to round(255 p), corrupted
    # by imagecorruptions with NumPy's generator at the cell's seed, then normalised again
    from imagecorruptions import corrupt

    dm = _test_split("gen_seg")
    image = dm.test_set[0][0]
    cell = Corruption("gaussian_noise", 2, seed=7)
    pixels = ((image * 0.25 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    state = int(np.random.SeedSequence([7, 0, COMMON.index("gaussian_noise"), 2]).generate_state(1)[0])
    np.random.seed(state)
    expected = (torch.from_numpy(corrupt(pixels, severity=2, corruption_name="gaussian_noise")).permute(2, 0, 1)
                .float() / 255 - 0.5) / 0.25
    before = np.random.get_state()[1].copy()
    got = cell.image(image, 0, dm.pixel_stats())
    assert torch.allclose(got, expected, atol=1e-6)
    assert (np.random.get_state()[1] == before).all()  # NumPy's global generator is left as it was


def test_a_grey_image_stays_grey_and_small_images_are_named():
    image = torch.rand(1, 32, 32)
    out = Corruption("contrast", 1).image(image, 0, ((0.0,), (1.0,)))
    assert out.shape == (1, 32, 32)
    with pytest.raises(ValueError, match="test images are 16x16, the corruptions need at least 32x32"):
        Corruption("contrast", 1).image(torch.rand(3, 16, 16), 0, ((0.0,), (1.0,)))


def test_the_grid_is_each_corruption_at_each_severity_and_bad_values_are_named():
    assert [(c.name, c.severity) for c in grid("all", 2)] == [(n, 2) for n in COMMON]
    assert len(grid("all")) == 75  # ImageNet-C: 15 corruptions x 5 severities
    assert [c.label for c in grid(["fog", "snow"], [1, 0, 4])] == ["fog/1", "fog/4", "snow/1", "snow/4"]
    assert grid("saturate", 1)[0].name == "saturate"  # the held-out four are there by name
    with pytest.raises(ValueError, match=r"data.corruption='fogg' is not a corruption: valid choices are all, gaussian_noise"):
        grid("fogg")
    with pytest.raises(ValueError, match=r"data.severity=6 is not a severity: valid choices are 0 \(clean\) to 5"):
        grid("fog", 6)
