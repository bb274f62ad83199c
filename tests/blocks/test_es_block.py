"""ES-BNN expanding-and-shrinking (Shi et al. 2025, Sec. 3.2-3.3, Eq. 2) around other blocks."""

import pytest
import torch

import bnnbench.binarizers as B
import bnnbench.blocks as K
from bnnbench.blocks.es import ExpandShrinkConv
from bnnbench.core import complexity


@pytest.mark.parametrize(("tau", "g"), [(2, 1), (4, 2), (2, 4)])
def test_widths_and_replicas(tau, g):
    # features between layers are C*tau*g wide; each conv maps C_in*tau*g -> C_out/tau with g
    # groups and its output is tiled tau^2*g times (Eq. 2: X = Rep(tau^2, ...))
    torch.manual_seed(0)
    cin, cout, e = 8, 16, tau * g
    blk = K.build({"name": "es", "groups": g}, cin, cout, 3, 1, 1, binarizer="reactnet", tau=tau)
    assert blk.expansion == e == K.BLOCKS.get("es").expansion_for(tau=tau, groups=g)
    inner = blk.base.conv.conv
    assert inner.weight.shape == (cout // tau, cin * tau, 3, 3) and inner.groups == g
    before_bn = {}
    blk.base.conv.register_forward_hook(lambda m, i, o: before_bn.setdefault("x", o))
    y = blk(torch.randn(2, cin * e, 6, 6))
    assert y.shape == (2, cout * e, 6, 6)
    copies = before_bn["x"].reshape(2, tau * tau * g, cout // tau, 6, 6)
    assert torch.equal(copies, copies[:, :1].expand_as(copies))
    assert blk.base.bn.num_features == cout * e  # BN runs at the expanded width


@pytest.mark.parametrize(("tau", "g"), [(1, 1), (2, 1), (4, 2), (2, 4)])
def test_binary_macs_are_those_of_the_base_conv(tau, g):
    # Sec. 3.2-3.3: C_out/tau outputs of a group conv over C_in*tau*g/g inputs = C_in*C_out*k^2
    cin, cout, hw = 8, 16, 6
    blk = K.build({"name": "es", "groups": g}, cin, cout, 3, 1, 1, binarizer="bnn", tau=tau)
    cost = complexity.count(blk, (cin * tau * g, hw, hw))
    assert cost.bops == cin * cout * 9 * hw * hw
    assert cost.binary_params == cin * cout * 9  # the parameter count is unchanged too


@pytest.mark.parametrize("base", ["plain", "cfb", "reactnet", "bireal"])
def test_wrapped_block_keeps_its_bops(base):
    cin, cout, hw = 8, 16, 8
    plain = complexity.count(K.build(base, cin, cout, 3, 2, 1, binarizer="reactnet"), (cin, hw, hw))
    es = complexity.count(
        K.build({"name": "es", "groups": 2}, cin, cout, 3, 2, 1, binarizer="reactnet", base=base, tau=2), (cin * 4, hw, hw)
    )
    assert es.bops == plain.bops and es.flops == plain.flops


@pytest.mark.parametrize("binarizer", B.names())
def test_composes_with_every_binarizer(binarizer):
    torch.manual_seed(0)
    blk = K.build({"name": "es", "groups": 2}, 8, 16, 3, 2, 1, binarizer=binarizer, base="reactnet", tau=2)
    x = torch.randn(2, 32, 8, 8, requires_grad=True)
    y = blk(x)
    assert y.shape == (2, 64, 4, 4)
    y.square().mean().backward()
    assert torch.isfinite(x.grad).all()


def test_base_options_and_mapping_are_forwarded():
    blk = K.build("es", 8, 8, 3, 1, 1, base={"name": "reactnet", "act": "maxout"}, tau=2)
    assert type(blk.base.act1).__name__ == "Maxout"
    blk = K.build("es", 8, 8, 3, 1, 1, base="bireal", act="rprelu", tau=2)
    assert type(blk.base.act).__name__ == "RPReLU"


def test_clear_errors():
    with pytest.raises(ValueError, match=r"out_channels divisible by tau\*groups: out_channels=12, tau=4, groups=2"):
        K.build({"name": "es", "groups": 2}, 8, 12, 3, 1, 1, tau=4)
    with pytest.raises(ValueError, match="tau must be an integer >= 1"):
        K.build("es", 8, 8, 3, 1, 1, tau=0)
    with pytest.raises(ValueError, match="cannot wrap itself"):
        K.build("es", 8, 8, 3, 1, 1, base="es")
    with pytest.raises(KeyError, match="valid choices"):
        K.build("es", 8, 8, 3, 1, 1, base="plane")


def test_expand_shrink_conv_alone():
    conv = ExpandShrinkConv(16, 32, 1, tau=2, g=2)
    assert conv.copies == 8 and conv.conv.out_channels == 4
    y = conv(torch.randn(1, 16, 3, 3))
    assert y.shape == (1, 32, 3, 3) and torch.equal(y[:, :4], y[:, 28:])


@pytest.mark.parametrize("base", ["plain", "bdnet", "reactnet"])
def test_grouped_slots_run_per_replica(base):
    # ES-BNN shrinks regular convs only; a depth-wise slot keeps one filter per channel of every
    # replica (groups x tau*g), and the regular convs inside the block are still shrunk
    torch.manual_seed(0)
    tau, g, c = 2, 2, 8
    e = tau * g
    blk = K.build({"name": "es", "groups": g}, c, c, 3, 1, 1, groups=c, binarizer="reactnet", base=base, tau=tau)
    depthwise = [m for m in blk.modules() if isinstance(m, torch.nn.Conv2d) and m.groups == m.in_channels]
    assert depthwise and all(m.in_channels == c * e for m in depthwise)
    shrunk = [m for m in blk.modules() if isinstance(m, ExpandShrinkConv)]
    assert bool(shrunk) == (base != "plain")
    x = torch.randn(2, c * e, 6, 6)
    assert blk(x).shape == (2, c * e, 6, 6)
    # replicas stay apart: changing replica 0 of the input changes only replica 0 of a plain block
    if base == "plain":
        x2 = x.clone()
        x2[:, :c] += 1.0
        diff = (blk.eval()(x2) - blk(x)).abs().sum((0, 2, 3)).reshape(e, c).sum(1)
        assert diff[0] > 0 and torch.all(diff[1:] == 0)


def test_groups_option_groups_the_regular_convs_of_other_blocks():
    blk = K.build({"name": "plain", "groups": 2}, 8, 8, 3, 1, 1)
    assert blk.conv.groups == 2
    with pytest.raises(ValueError, match="already has groups=8"):
        K.build({"name": "plain", "groups": 2}, 8, 8, 3, 1, 1, groups=8)
    with pytest.raises(ValueError, match="has no option 'tua': valid options are"):
        K.build({"name": "es", "tua": 2}, 8, 8, 3, 1, 1)
