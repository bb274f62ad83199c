"""BD-Net (Kim et al. 2025): 1.58-bit depth-wise conv (Eq. 11), pre-BN residual (Eqs. 3-4),
broadcast residual, and the `dual` switch of docs/methods.md."""

import pytest
import torch
import torch.nn.functional as F

import bnnbench.blocks as K
from bnnbench.blocks.bdnet import DualConv
from bnnbench.core import complexity


def _set(p, values):
    p.data = torch.tensor(values, dtype=torch.float32).view(p.shape)


def _randomize_bn(module):
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.normal_()
            m.bias.data.normal_()


def _bn(y, bn):
    return F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


def test_summed_activations_take_exactly_three_levels():
    # Eq. 11: f(x) = -b1-b2 (x < a1), b1-b2 (a1 <= x < a2), b1+b2 (a2 <= x)
    conv = DualConv(2, 2, 3, 1, 1, groups=2, binarizer="bnn")
    b1, b2 = 0.3, 0.7
    _set(conv.conv1.binarizer.alpha, [-0.5, -0.5])
    _set(conv.conv2.binarizer.alpha, [0.5, 0.5])
    _set(conv.beta1, [b1, b1])
    _set(conv.beta2, [b2, b2])
    x = torch.linspace(-2, 2, 2 * 2 * 10 * 10).view(2, 2, 10, 10)
    levels = conv.levels(x)
    assert sorted(levels.unique().tolist()) == pytest.approx([-b1 - b2, b1 - b2, b1 + b2])
    expected = torch.where(x < -0.5, -b1 - b2, torch.where(x < 0.5, b1 - b2, b1 + b2))
    assert torch.allclose(levels, expected)


def test_dual_conv_is_the_sum_of_two_binary_convs():
    torch.manual_seed(0)
    conv = DualConv(3, 3, 3, 1, 1, groups=3, binarizer="reactnet")
    x = torch.randn(2, 3, 6, 6)
    _set(conv.beta1, [0.2, 0.4, 0.6])
    expected = 0
    for c, beta in ((conv.conv1, conv.beta1), (conv.conv2, conv.beta2)):
        w = c.weight.abs().mean((1, 2, 3), keepdim=True) * torch.where(c.weight >= 0, 1.0, -1.0)
        a = torch.where(x - c.binarizer.alpha >= 0, 1.0, -1.0)
        expected = expected + beta * F.conv2d(a, w, padding=1, groups=3)
    assert torch.allclose(conv(x), expected, atol=1e-6)
    # depth-wise: scaling an output channel is scaling its activation (the levels view)
    w1 = conv.conv1.weight.abs().mean((1, 2, 3), keepdim=True) * torch.where(conv.conv1.weight >= 0, 1.0, -1.0)
    a1 = torch.where(x - conv.conv1.binarizer.alpha >= 0, 1.0, -1.0)
    assert torch.allclose(conv.beta1 * F.conv2d(a1, w1, padding=1, groups=3), F.conv2d(conv.beta1 * a1, w1, padding=1, groups=3), atol=1e-6)
    # the two branches have their own weights, thresholds and scales
    assert conv.conv1.weight is not conv.conv2.weight
    assert not torch.equal(conv.conv1.binarizer.alpha, conv.conv2.binarizer.alpha)


@pytest.mark.parametrize("stride", [1, 2])
def test_pre_bn_residual_is_bn_of_conv_plus_x_plus_x(stride):
    # y = BN(dwconv(x) + x) + x (Eqs. 3-4); with stride 2 the shortcut is AvgPool2(x)
    torch.manual_seed(0)
    blk = K.build("bdnet", 4, 4, 3, stride, 1, binarizer="reactnet", act="none").eval()
    _randomize_bn(blk)
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        dw = blk.conv(x)
        xs = F.avg_pool2d(x, 2) if stride == 2 else x
        expected = _bn(dw + xs, blk.bn) + xs
        assert torch.allclose(blk.depthwise(x), expected, atol=1e-6)
        # the whole layer: then BN(pw(o1)) + o1
        full = _bn(blk.pw(expected), blk.bn_pw) + expected
        assert torch.allclose(blk(x), full, atol=1e-5)


def test_pre_bn_residual_jacobian_is_eq4():
    # J' = a J_dw + (a + 1) I with a the BN scale (Eq. 4), checked on a real-valued dw conv
    torch.manual_seed(0)
    blk = K.build("bdnet", 2, 2, 3, 1, 1, binarizer="fp", dual="none", act="none").eval().double()
    _randomize_bn(blk)
    blk.bn.running_var.fill_(1.0)
    blk.bn.weight.data.fill_(1.7)  # a = 1.7 / sqrt(1 + eps)
    a = 1.7 / (1 + blk.bn.eps) ** 0.5
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64)
    j = torch.autograd.functional.jacobian(lambda v: blk.depthwise(v), x).reshape(32, 32)
    j_dw = torch.autograd.functional.jacobian(lambda v: blk.conv(v), x).reshape(32, 32)
    assert torch.allclose(j, a * j_dw + (a + 1) * torch.eye(32, dtype=torch.float64))


@pytest.mark.parametrize(("cin", "cout"), [(4, 8), (4, 12), (8, 4)])
def test_broadcast_residual_repeats_channels(cin, cout):
    # BD-Net "broadcast residual": the input's channels repeated to the output width (CFB-like
    # tiling of BiDense, without fusion of the remainder)
    torch.manual_seed(0)
    blk = K.build("bdnet", cin, cout, 3, 1, 1, binarizer="reactnet", act="none").eval()
    blk.pw.weight.data.zero_()
    x = torch.randn(2, cin, 5, 5)
    with torch.no_grad():
        got = blk.pointwise(x) - blk.bn_pw(torch.zeros(2, cout, 5, 5))
    idx = torch.arange(cout) % cin
    assert torch.allclose(got, x[:, idx], atol=1e-6)


def test_dual_switch_doubles_the_right_convs():
    # docs/methods.md: `dual: dw` doubles the depth-wise conv only, `all` the point-wise one too
    c, hw = 8, 6
    dw_macs, pw_macs = c * 9 * hw * hw, c * 16 * hw * hw
    bops = {
        dual: complexity.count(K.build("bdnet", c, 16, 3, 1, 1, binarizer="reactnet", dual=dual), (c, hw, hw)).bops
        for dual in ("none", "dw", "all")
    }
    assert bops == {"none": dw_macs + pw_macs, "dw": 2 * dw_macs + pw_macs, "all": 2 * dw_macs + 2 * pw_macs}


def test_levels_is_for_depthwise_only():
    with pytest.raises(ValueError, match="depth-wise convs only"):
        DualConv(4, 8, 1, binarizer="bnn").levels(torch.randn(1, 4, 2, 2))


def test_real_dw_keeps_the_depthwise_conv_real():
    blk = K.build("bdnet", 8, 16, 3, 2, 1, binarizer="reactnet", real_dw=True)
    cost = complexity.count(blk, (8, 8, 8))
    assert cost.flops == 8 * 9 * 16 and cost.bops == 8 * 16 * 16
    assert blk.conv.weight.shape == (8, 1, 3, 3)


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="dual must be one of"):
        K.build("bdnet", 8, 8, 3, 1, 1, dual="pw")
    with pytest.raises(ValueError, match="groups must be 1 or in_channels=8, got 2"):
        K.build("bdnet", 8, 8, 3, 1, 1, groups=2)


@pytest.mark.parametrize("stride", [1, 2])
def test_one_conv_per_slot_depthwise_is_the_pre_bn_part(stride):
    # separable=False on a depth-wise slot: act(BN(dw(x) + x_s) + x_s) alone (Eqs. 3-4)
    torch.manual_seed(0)
    blk = K.build("bdnet", 6, 6, 3, stride, 1, 6, binarizer="reactnet", act="none", separable=False).eval()
    _randomize_bn(blk)
    assert not hasattr(blk, "pw")
    x = torch.randn(2, 6, 8, 8)
    with torch.no_grad():
        xs = F.avg_pool2d(x, 2) if stride == 2 else x
        assert torch.allclose(blk(x), _bn(blk.conv(x) + xs, blk.bn) + xs, atol=1e-6)


@pytest.mark.parametrize(("cin", "cout", "stride", "groups"), [(6, 12, 1, 3), (12, 9, 2, 3), (4, 8, 1, 1)])
def test_one_conv_per_slot_pointwise_has_the_broadcast_residual(cin, cout, stride, groups):
    # separable=False on any other slot: act(BN(conv(x)) + broadcast(x_s, C_out)), the slot's
    # kernel, stride and groups kept (ShuffleNet's 1x1 group convs)
    torch.manual_seed(0)
    blk = K.build("bdnet", cin, cout, 1, stride, 0, groups, binarizer="reactnet", act="none", separable=False).eval()
    _randomize_bn(blk)
    assert not hasattr(blk, "conv") and blk.pw.groups == groups and blk.pw.stride == (stride, stride)
    x = torch.randn(2, cin, 8, 8)
    with torch.no_grad():
        xs = F.avg_pool2d(x, 2) if stride == 2 else x
        expected = _bn(blk.pw(x), blk.bn_pw) + xs[:, torch.arange(cout) % cin]
        assert torch.allclose(blk(x), expected, atol=1e-6)
    # the binary MACs are those of the one grouped conv
    hw = 8 // stride
    assert complexity.count(blk, (cin, 8, 8)).bops == cin // groups * cout * hw * hw
