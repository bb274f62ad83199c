"""Correlation of replicated feature maps per ES layer (ES-BNN Sec. 4.5, Fig. 7)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bnnbench.analyze.replicas import ReplicaStats, es_layers, layer_correlations
from bnnbench.blocks.base import ConvSlot
from bnnbench.blocks.es import ExpandShrinkBlock
from bnnbench.models.layers import Expand


def stats(features: torch.Tensor, period: int, chunks: int = 1) -> tuple[float, int]:
    """mean |corr| and pairs of `features`, added in `chunks` batches."""
    acc = ReplicaStats(period)
    for part in features.chunk(chunks):
        acc.add(part)
    return acc.mean_abs_corr()


def test_identical_replicas_correlate_fully_and_affine_copies_too():
    x = torch.randn(3, 5, 6, 6, generator=torch.Generator().manual_seed(0))
    mean, pairs = stats(x.repeat(1, 4, 1, 1), period=5, chunks=3)
    assert pairs == 5 * 6 and mean == pytest.approx(1.0)
    mean, _ = stats(torch.cat([x, -2 * x + 1], 1), period=5)  # |corr| is 1 for any affine copy
    assert mean == pytest.approx(1.0)


def test_pairs_are_channels_equal_mod_the_period_over_all_samples_and_positions():
    # copy 1 of map 0 is map 0 on the first sample and independent on the second: the pooled
    # Pearson correlation over both samples' pixels is the one computed by hand (1x1 maps count)
    gen = torch.Generator().manual_seed(2)
    a, b = torch.randn(2, 1, 3, 3, generator=gen), torch.randn(1, 1, 3, 3, generator=gen)
    copy = torch.cat([a[:1], b])
    features = torch.cat([a, copy], 1)
    expected = abs(float(torch.corrcoef(torch.stack([a.flatten(), copy.flatten()]))[0, 1]))
    assert stats(features, period=1, chunks=2) == (pytest.approx(expected), 1)
    deep = torch.randn(4, 3, 1, 1, generator=gen)  # 1x1 maps: correlation across samples
    mean, pairs = stats(deep.repeat(1, 2, 1, 1), period=3)
    assert pairs == 3 and mean == pytest.approx(1.0)


def test_independent_replicas_have_the_expected_small_correlation():
    # independent Gaussian maps over n values: E|r| = sqrt(2 / (pi (n - 1))), n = 8 * 16 * 16
    x = torch.randn(8, 4 * 64, 16, 16, generator=torch.Generator().manual_seed(1))
    mean, pairs = stats(x, period=64, chunks=2)
    assert pairs == 64 * 6 and mean == pytest.approx(math.sqrt(2 / (math.pi * (8 * 256 - 1))), rel=0.15)


def test_constant_maps_are_left_out():
    x = torch.randn(2, 2, 4, 4)
    x[:, 1] = 3.0  # the copy of map 0 is constant: no pair can be formed
    mean, pairs = stats(x, period=1)
    assert pairs == 0 and math.isnan(mean)


def test_es_layer_copies_correlate_fully_at_initialisation():
    # ES-BNN: "Initially, the coefficients of all layers are 1": identical input replicas, and a
    # conv output tiled tau^2 times, stay copies through BN's initial (equal) affine
    torch.manual_seed(0)
    block = ExpandShrinkBlock(ConvSlot(4, 8, 3, padding=1, binarizer="bnn"), base="plain", tau=2)
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
    block = ExpandShrinkBlock(ConvSlot(4, 4, 3, padding=1, binarizer="bnn"), base="bireal", tau=2).eval()
    # two replicas of 4 channels that are not copies; the conv's +-1 sums (variance c_i tau k^2 = 72)
    # are small beside the residual's variance 30^2, so the copies' correlation is about 72 / 972
    x = 30 * torch.randn(2, 8, 8, 8)
    (row,) = layer_correlations(nn.Sequential(block), [x], block)
    assert 0.0 < row["mean_abs_corr"] < 0.3
