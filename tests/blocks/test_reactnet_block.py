"""ReActNet-A block (Liu et al. 2020, Fig. 2 / docs/methods.md `reactnet`) and RPReLU (Eq. 3)."""

import pytest
import torch
import torch.nn.functional as F

import bnnbench.blocks as K
from bnnbench.blocks.activations import Maxout, RPReLU
from bnnbench.blocks.bypass import cfb


def _sign(v):
    return torch.where(v >= 0, 1.0, -1.0)


def _meanabs(w):
    return w.abs().mean((1, 2, 3), keepdim=True) * _sign(w)


def _bn(y, bn):
    return F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


def _randomize_bn(block):
    for m in block.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.normal_()
            m.bias.data.normal_()


def test_rprelu_is_eq3():
    # ReActNet Eq. 3: x - gamma + zeta if x > gamma else beta (x - gamma) + zeta
    act = RPReLU(2)
    act.gamma.data = torch.tensor([0.5, -1.0]).view(1, 2, 1, 1)
    act.beta.data = torch.tensor([0.25, 0.1]).view(1, 2, 1, 1)
    act.zeta.data = torch.tensor([1.0, 2.0]).view(1, 2, 1, 1)
    x = torch.randn(3, 2, 4, 4)
    g, b, z = act.gamma, act.beta, act.zeta
    expected = torch.where(x > g, x - g + z, b * (x - g) + z)
    assert torch.allclose(act(x), expected)


def test_maxout_is_adabin_form():
    act = Maxout(3)
    x = torch.randn(2, 3, 4, 4)
    assert torch.allclose(act(x), torch.relu(x) - 0.25 * torch.relu(-x))


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("ratio", [1, 2])
def test_block_matches_the_formula(stride, ratio):
    # o1 = BN(binconv3x3_s(RSign(x))) + (AvgPool2(x) if s == 2 else x);
    # o2 = concat_i [BN_i(binconv1x1_i(RSign(o1))) + o1]   (ReActNet Fig. 2, act none)
    torch.manual_seed(0)
    cin = 4
    blk = K.build("reactnet", cin, ratio * cin, 3, stride, 1, binarizer="reactnet", act="none").eval()
    _randomize_bn(blk)
    x = torch.randn(2, cin, 8, 8)
    with torch.no_grad():
        out1 = _bn(F.conv2d(_sign(x), _meanabs(blk.conv.weight), stride=stride, padding=1), blk.bn)
        o1 = out1 + (F.avg_pool2d(x, 2) if stride == 2 else x)
        parts = [_bn(F.conv2d(_sign(o1), _meanabs(c.weight)), bn) + o1 for c, bn in zip(blk.pw, blk.bn_pw)]
        expected = torch.cat(parts, 1)
        got = blk(x)
    assert got.shape == (2, ratio * cin, 8 // stride, 8 // stride)
    assert torch.allclose(got, expected, atol=1e-5)


def test_3x3_is_a_full_conv_and_pointwise_convs_are_c_to_c():
    blk = K.build("reactnet", 8, 16, 3, 2, 1, binarizer="reactnet")
    assert blk.conv.weight.shape == (8, 8, 3, 3)
    assert [c.weight.shape for c in blk.pw] == [(8, 8, 1, 1)] * 2
    assert isinstance(blk.act1, RPReLU) and isinstance(blk.act2, RPReLU)


def test_doubling_convs_share_one_activation_binarizer():
    # the authors' code binarizes o1 once (one `move21` threshold) for both 1x1 convs
    blk = K.build("reactnet", 8, 16, 3, 1, 1, binarizer="reactnet")
    assert blk.pw[0].binarizer is blk.pw[1].binarizer
    assert sum(p.numel() for n, p in blk.named_parameters() if "binarizer" in n) == 8 + 8


@pytest.mark.parametrize("cout", [2, 4, 12])
def test_other_widths_use_one_conv_and_the_cfb_bypass(cout):
    # reduction / non-integer ratio: o2 = BN(binconv1x1(RSign(o1))) + CFB(o1, C_out)  (BiDense Eq. 11)
    torch.manual_seed(0)
    blk = K.build("reactnet", 8, cout, 3, 1, 1, binarizer="reactnet", act="none").eval()
    _randomize_bn(blk)
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        o1 = _bn(F.conv2d(_sign(x), _meanabs(blk.conv.weight), padding=1), blk.bn) + x
        conv = blk.pw[0]
        expected = _bn(F.conv2d(_sign(o1), _meanabs(conv.weight)), blk.bn_pw[0]) + cfb(o1, cout)
        got = blk(x)
    assert conv.weight.shape == (cout, 8, 1, 1)
    assert torch.allclose(got, expected, atol=1e-5)


def test_bad_activation_is_rejected():
    with pytest.raises(ValueError, match="act must be one of"):
        K.build("reactnet", 8, 8, 3, 1, 1, act="gelu")


@pytest.mark.parametrize(("br", "cout"), [(True, 12), (True, 6), (False, 12), (False, 16)])
def test_br_option_broadcasts_or_drops_the_residual_across_width_changes(br, cout):
    # BD-Net Tables 4-5 "br": o1 repeated cyclically to C_out as the residual of the point-wise
    # conv (br true); plain ReActNet on varying widths has none there (br false)
    torch.manual_seed(0)
    blk = K.build("reactnet", 8, cout, 3, 1, 1, binarizer="reactnet", act="none", br=br).eval()
    _randomize_bn(blk)
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        o1 = _bn(F.conv2d(_sign(x), _meanabs(blk.conv.weight), padding=1), blk.bn) + x
        conv = blk.pw[0]
        expected = _bn(F.conv2d(_sign(o1), _meanabs(conv.weight)), blk.bn_pw[0])
        if br:
            expected = expected + o1[:, torch.arange(cout) % 8]
        got = blk(x)
    assert len(blk.pw) == 1 and conv.weight.shape == (cout, 8, 1, 1)
    assert torch.allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize(("cin", "cout", "stride", "groups", "br"), [
    (8, 8, 1, 8, None), (8, 8, 2, 1, None), (6, 12, 1, 3, True), (12, 6, 2, 3, True), (6, 12, 1, 1, False),
])
def test_one_conv_per_slot(cin, cout, stride, groups, br):
    # separable=False: act(BN(conv_k,s,g(RSign(x))) + bypass(x)), bypass = x (AvgPool2 when
    # strided), broadcast across a width change with br, none without
    torch.manual_seed(0)
    blk = K.build("reactnet", cin, cout, 3, stride, 1, groups, binarizer="reactnet", act="none", br=br,
                  separable=False).eval()
    _randomize_bn(blk)
    assert not hasattr(blk, "pw") and blk.conv.weight.shape == (cout, cin // groups, 3, 3)
    x = torch.randn(2, cin, 8, 8)
    with torch.no_grad():
        out = _bn(F.conv2d(_sign(x), _meanabs(blk.conv.weight), stride=stride, padding=1, groups=groups), blk.bn)
        xs = F.avg_pool2d(x, 2) if stride == 2 else x
        if br is not False:
            out = out + xs[:, torch.arange(cout) % cin]
        assert torch.allclose(blk(x), out, atol=1e-5)


def test_bad_br_is_rejected():
    with pytest.raises(ValueError, match=r"br must be one of \(None, True, False\), got 'yes'"):
        K.build("reactnet", 8, 8, 3, 1, 1, br="yes")
