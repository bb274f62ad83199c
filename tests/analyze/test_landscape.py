"""Loss landscapes along filter-normalised directions (Li et al. 2018, Sec. 4)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from bnnbench.analyze.context import mean_loss
from bnnbench.analyze.landscape import coordinates, filter_normalized_direction, surface
from bnnbench.blocks.conv import BinaryConv2d


def small_bnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8),
                         BinaryConv2d(8, 8, 3, padding=1, binarizer="reactnet"), nn.BatchNorm2d(8),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)).eval()


def test_landscape_centre_is_the_loss_and_weights_are_restored():
    model = small_bnn()
    gen = torch.Generator().manual_seed(1)
    batches = [(torch.randn(4, 3, 8, 8, generator=gen), torch.randint(0, 4, (4,), generator=gen)) for _ in range(2)]

    def loss() -> float:
        return mean_loss(lambda b: nn.functional.cross_entropy(model(b[0]), b[1]), batches)

    expected = loss()
    before = [p.detach().clone() for p in model.parameters()]
    params = list(model.parameters())
    d1, d2 = filter_normalized_direction(params, gen), filter_normalized_direction(params, gen)
    xs = coordinates(5, 1.0)
    line = surface(loss, params, [d1], [xs])
    plane = surface(loss, params, [d1, d2], [xs, xs])
    assert line[2] == expected and plane[2, 2] == expected  # the centre is the checkpoint, bit for bit
    assert line[0] != expected and np.isfinite(plane).all()
    np.testing.assert_array_equal(plane[:, 2], line)  # beta = 0 column is the 1-D line along d1
    for p, w in zip(model.parameters(), before):
        assert torch.equal(p, w)


def test_surface_of_a_quadratic_matches_its_closed_form():
    # L(w) = ||w||^2: L(w + a d1 + b d2) is known exactly for every grid point
    w = nn.Parameter(torch.tensor([[1.0, 2.0], [3.0, -1.0]], dtype=torch.float64))
    d1 = [torch.tensor([[0.5, 0.0], [0.0, 1.0]], dtype=torch.float64)]
    d2 = [torch.tensor([[0.0, -1.0], [2.0, 0.0]], dtype=torch.float64)]
    xs = coordinates(3, 2.0)
    got = surface(lambda: float((w ** 2).sum()), [w], [d1, d2], [xs, xs])
    for i, a in enumerate(xs):
        for j, b in enumerate(xs):
            assert got[i, j] == pytest.approx(float(((w.detach() + a * d1[0] + b * d2[0]) ** 2).sum()))


def test_directions_are_filter_normalised_and_leave_1d_parameters_still():
    model = small_bnn()
    params = list(model.parameters())
    for p, d in zip(params, filter_normalized_direction(params, torch.Generator().manual_seed(0))):
        assert d.shape == p.shape
        if p.dim() <= 1:
            assert torch.count_nonzero(d) == 0
        else:
            torch.testing.assert_close(d.flatten(1).norm(dim=1), p.detach().flatten(1).norm(dim=1))


def test_coordinates_are_odd_with_an_exact_zero_centre():
    xs = coordinates(11, 0.7)
    assert xs[5] == 0.0 and xs[0] == -0.7 and xs[-1] == 0.7
    with pytest.raises(ValueError, match="odd"):
        coordinates(10, 1.0)
