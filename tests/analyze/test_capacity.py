"""Representation capacity per binary layer (ES-BNN Sec. 3.1 after Eq. 1, Sec. 3.2; Fig. 4)."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from bnnbench.analyze.capacity import capacity, layer_capacities
from bnnbench.blocks.base import ConvSlot
from bnnbench.blocks.conv import BinaryConv2d
from bnnbench.blocks.es import ExpandShrinkBlock


def distinct_outputs(conv: BinaryConv2d) -> int:
    """Distinct outputs of a binary conv with +-1 weights over every +-1 input (brute force)."""
    with torch.no_grad():
        conv.weight.copy_(torch.where(torch.rand_like(conv.weight) > 0.5, 1.0, -1.0))
    c, (kh, kw) = conv.in_channels, conv.kernel_size
    patterns = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=c * kh * kw))).view(-1, c, kh, kw)
    with torch.no_grad():
        return torch.unique(conv(patterns)).numel()


def test_capacity_of_known_layers_counts_every_reachable_value():
    # ES-BNN: c_i k^2 + 1 values; brute force over all inputs reaches exactly that many
    for c, k in ((3, 1), (1, 3), (2, 2)):
        conv = BinaryConv2d(c, 1, k, binarizer="bnn", bias=False)
        (row,) = layer_capacities(nn.Sequential(conv))
        assert row["fan_in"] == c * k * k and row["capacity"] == capacity(c * k * k) == c * k * k + 1
        assert distinct_outputs(conv) == row["capacity"]


def test_es_conv_capacity_is_ci_tau_k2_plus_1_and_without_es_ci_k2_plus_1():
    # block es (plain base) at base widths 4 -> 8, 3x3, tau = 2: the binary conv reads 4 * 2
    # input channels, so c_i tau k^2 + 1 = 73 values instead of c_i k^2 + 1 = 37
    block = ExpandShrinkBlock(ConvSlot(4, 8, 3, padding=1, binarizer="bnn"), base="plain", tau=2)
    (row,) = layer_capacities(nn.Sequential(block))
    assert (row["capacity"], row["capacity_with_es"], row["capacity_without_es"]) == (73, 73, 37)
    assert row["es"] and row["tau"] == 2 and row["kind"] == "regular"
    # with binary group conv g = 2: each group still reads c_i tau channels
    grouped = ExpandShrinkBlock(ConvSlot(4, 8, 3, padding=1, binarizer="bnn"), base="plain", tau=2, g=2)
    (row,) = layer_capacities(nn.Sequential(grouped))
    assert (row["capacity"], row["capacity_without_es"]) == (73, 37)


def test_capacity_without_es_model_counts_regular_convs_as_expanded_and_keeps_depthwise():
    model = nn.Sequential(BinaryConv2d(4, 8, 3, padding=1, binarizer="bnn"),
                          BinaryConv2d(8, 8, 3, padding=1, groups=8, binarizer="bnn"),
                          nn.Conv2d(8, 8, 1))  # real convs are not binary layers
    regular, depthwise = layer_capacities(model, tau=4)
    assert (regular["capacity"], regular["capacity_with_es"], regular["es"]) == (37, 4 * 36 + 1, False)
    assert (depthwise["kind"], depthwise["capacity"], depthwise["capacity_with_es"]) == ("depthwise", 10, 10)
