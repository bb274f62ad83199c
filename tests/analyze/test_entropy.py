"""Entropy of binarized activations (BiDense Eq. 3; Figs. 3, 6d)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bnnbench.analyze.entropy import BitCounter, binary_entropy, bits, layer_entropy
from bnnbench.blocks.conv import BinaryConv2d


def h(p: float) -> float:
    return -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def test_binary_entropy_matches_bidense_eq3():
    got = binary_entropy(torch.tensor([0.0, 0.5, 1.0, 0.25, 0.9]))
    expected = [0.0, 1.0, 0.0, h(0.25), h(0.9)]
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))


def test_entropy_of_a_hand_made_binary_tensor():
    # (N=2, C=3, 2x2): channel 0 half +1, channel 1 all +1, channel 2 a quarter +1
    x = -torch.ones(2, 3, 2, 2)
    x[0, 0] = 1.0
    x[:, 1] = 1.0
    x[1, 2, 0, :] = 1.0
    counter = BitCounter()
    counter.add(bits(x[:1]))
    counter.add(bits(x[1:]))  # counted over two batches
    torch.testing.assert_close(counter.p(), torch.tensor([0.5, 1.0, 0.25], dtype=torch.float64))
    s = counter.summary()
    assert s["entropy_channel_mean"] == pytest.approx((1.0 + 0.0 + h(0.25)) / 3)
    assert s["entropy_channel_min"] == 0.0 and s["entropy_channel_max"] == pytest.approx(1.0)
    p_layer = (4 + 8 + 2) / 24
    assert s["p_one"] == pytest.approx(p_layer) and s["entropy_layer"] == pytest.approx(h(p_layer))


def test_bits_of_two_level_outputs_that_are_not_symmetric():
    # levels {0.2, 1.7} in one plane, {-3, -1} in another: the upper level is the one bit
    x = torch.tensor([[[[0.2, 1.7], [1.7, 1.7]], [[-3.0, -1.0], [-3.0, -3.0]]]])
    assert bits(x, symmetric=False).flatten().tolist() == [False, True, True, True, False, True, False, False]


def test_layer_entropy_reads_the_binarizers_through_hooks():
    # the binarizer of a 1x1 conv sees channel 0 always positive (0 bits) and channel 1
    # positive on half the pixels (1 bit): channel mean 0.5, layer p = 3/4
    model = nn.Sequential(BinaryConv2d(2, 1, 1, binarizer="bnn"))
    x = torch.ones(2, 2, 2, 2)
    x[:, 1, 0] = -1.0
    (row,) = layer_entropy(model, [x, x], model)
    assert row["layer"] == "0.binarizer" and row["channels"] == 2
    assert row["entropy_channel_mean"] == pytest.approx(0.5) and row["entropy_layer"] == pytest.approx(h(0.75))
    assert not model[0].binarizer._forward_hooks  # hooks removed
