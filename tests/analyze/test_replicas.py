"""Correlation of replicated feature maps per ES layer (ES-BNN Sec. 4.5, Fig. 7)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bnnbench.analyze.replicas import es_layers, layer_correlations, replica_correlation
from bnnbench.blocks.es import ExpandShrinkBlock
from bnnbench.models.layers import Expand


def test_identical_replicas_correlate_fully_and_negated_ones_too():
    x = torch.randn(3, 5, 6, 6, generator=torch.Generator().manual_seed(0))
    s, pairs = replica_correlation(x.repeat(1, 4, 1, 1), period=5)
    assert pairs == 3 * 5 * 6 and s / pairs == pytest.approx(1.0)
    s, pairs = replica_correlation(torch.cat([x, -2 * x + 1], 1), period=5)  # affine copies: |corr| = 1
    assert s / pairs == pytest.approx(1.0)


def test_independent_replicas_have_the_expected_small_correlation():
    # independent Gaussian maps of n pixels: E|r| = sqrt(2 / (pi (n - 1))) (about 0.05 at n = 256)
    x = torch.randn(16, 8 * 4, 16, 16, generator=torch.Generator().manual_seed(1))
    s, pairs = replica_correlation(x, period=8)
    assert s / pairs == pytest.approx(math.sqrt(2 / (math.pi * 255)), rel=0.1)


def test_constant_maps_are_left_out():
    x = torch.randn(1, 2, 4, 4)
    x[:, 1] = 3.0  # the copy of map 0 is constant: no pair can be formed
    assert replica_correlation(x, period=1) == (0.0, 0)


def test_es_layer_copies_correlate_fully_at_initialisation():
    # ES-BNN: "Initially, the coefficients of all layers are 1": identical input replicas, and a
    # conv output tiled tau^2 times, stay copies through BN's initial (equal) affine
    torch.manual_seed(0)
    block = ExpandShrinkBlock(4, 8, 3, padding=1, binarizer="bnn", base="plain", tau=2)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), Expand(2), block).eval()
    ((name, _, period),) = es_layers(model)
    assert name == "2" and period == 8 * 2 // 4
    (row,) = layer_correlations(model, [torch.randn(2, 3, 8, 8)], model)
    assert row["copies"] == 4 and row["mean_abs_corr"] == pytest.approx(1.0)
    with torch.no_grad():  # a per-channel affine alone keeps |corr| = 1
        block.base.bn.running_mean.copy_(torch.randn(16))
        block.base.bn.weight.copy_(torch.randn(16))
    (row,) = layer_correlations(model, [torch.randn(2, 3, 8, 8)], model)
    assert row["mean_abs_corr"] == pytest.approx(1.0)


def test_a_residual_that_differs_per_replica_decorrelates_the_copies():
    # ES-BNN Eq. 3: the residual adds features that differ between replicas (bireal: out + x)
    torch.manual_seed(0)
    block = ExpandShrinkBlock(4, 4, 3, padding=1, binarizer="bnn", base="bireal", tau=2).eval()
    # two replicas of 4 channels that are not copies; the conv's +-1 sums (variance c_i tau k^2 = 72)
    # are small beside the residual's variance 30^2, so the copies' correlation is about 72 / 972
    x = 30 * torch.randn(2, 8, 8, 8)
    (row,) = layer_correlations(nn.Sequential(block), [x], block)
    assert 0.0 < row["mean_abs_corr"] < 0.3
