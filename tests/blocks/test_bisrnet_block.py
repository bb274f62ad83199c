"""BiSRNet binarized conv units (Cai et al. 2024; docs/methods.md `bisrnet`)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import bnnbench.blocks as K


def _unit(unit, x):
    # x + RPReLU(binconv(B(x))), B = redistribution x*k + b then sign (SBA forward is sign)
    b = unit.conv.binarizer
    xb = torch.where(x * b.k + b.b >= 0, 1.0, -1.0)
    w = unit.conv.weight
    wb = w.abs().mean((1, 2, 3), keepdim=True) * torch.where(w >= 0, 1.0, -1.0)
    return x + unit.act(F.conv2d(xb, wb, padding=unit.conv.padding))


def test_same_width_unit_has_no_bn():
    torch.manual_seed(0)
    blk = K.build("bisrnet", 4, 4, 3, 1, 1, binarizer="bisrnet")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in blk.modules())
    x = torch.randn(2, 4, 6, 6)
    assert torch.allclose(blk(x), _unit(blk.units[0], x), atol=1e-6)


def test_increase_duplicates_and_concatenates():
    torch.manual_seed(0)
    blk = K.build("bisrnet", 4, 8, 3, 1, 1, binarizer="bisrnet")
    x = torch.randn(2, 4, 6, 6)
    expected = torch.cat([_unit(blk.units[0], x), _unit(blk.units[1], x)], 1)
    assert torch.allclose(blk(x), expected, atol=1e-6)


def test_decrease_splits_and_averages():
    torch.manual_seed(0)
    blk = K.build("bisrnet", 8, 4, 3, 1, 1, binarizer="bisrnet")
    x = torch.randn(2, 8, 6, 6)
    expected = (_unit(blk.units[0], x[:, :4]) + _unit(blk.units[1], x[:, 4:])) / 2
    assert torch.allclose(blk(x), expected, atol=1e-6)


def test_down_is_avgpool_then_increase():
    torch.manual_seed(0)
    blk = K.build("bisrnet", 4, 8, 3, 2, 1, binarizer="bisrnet")
    x = torch.randn(2, 4, 8, 8)
    p = F.avg_pool2d(x, 2)
    expected = torch.cat([_unit(blk.units[0], p), _unit(blk.units[1], p)], 1)
    assert torch.allclose(blk(x), expected, atol=1e-6)


def test_up_is_bilinear_then_decrease():
    torch.manual_seed(0)
    blk = K.build("bisrnet", 8, 4, 3, 1, 1, binarizer="bisrnet", up=True)
    x = torch.randn(2, 8, 4, 4)
    u = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    expected = (_unit(blk.units[0], u[:, :4]) + _unit(blk.units[1], u[:, 4:])) / 2
    y = blk(x)
    assert y.shape == (2, 4, 8, 8) and torch.allclose(y, expected, atol=1e-6)


def test_sba_beta_gets_a_gradient_through_the_block():
    blk = K.build("bisrnet", 4, 4, 3, 1, 1, binarizer="bisrnet")
    blk(torch.randn(2, 4, 5, 5)).square().mean().backward()
    assert blk.units[0].conv.binarizer.beta.grad is not None


def test_an_increase_by_a_non_integer_ratio_truncates_the_duplicates():
    # C -> rC + m: r whole units, then a unit C -> m with residual x[:, :m] (96 -> 128 in
    # ConvNeXt-UPerNet's decoder); output channel j is a unit on x with residual x[j mod C]
    torch.manual_seed(0)
    blk = K.build("bisrnet", 4, 10, 3, 1, 1, binarizer="bisrnet")
    assert [u.out_channels for u in blk.units] == [4, 4, 2]
    x = torch.randn(2, 4, 6, 6)
    last = blk.units[2]
    partial = x[:, :2] + last.act(last.conv(x))
    expected = torch.cat([_unit(blk.units[0], x), _unit(blk.units[1], x), partial], 1)
    y = blk(x)
    assert y.shape == (2, 10, 6, 6) and torch.allclose(y, expected, atol=1e-6)


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="decreases channels by an integer factor.*in=6, out=4"):
        K.build("bisrnet", 6, 4, 3, 1, 1)
    with pytest.raises(ValueError, match="keep the spatial size"):
        K.build("bisrnet", 4, 4, 3, 1, 0)
    with pytest.raises(ValueError, match="stride must be 1"):
        K.build("bisrnet", 8, 4, 3, 2, 1, up=True)
