"""convert: any model's Conv2d layers become blocks, except those named in `keep`."""

import pytest
import torch
from torch import nn
from torchvision.models import resnet18

from bnnbench.blocks import BinaryConv2d, Block
from bnnbench.core import complexity
from bnnbench.models import convert


def real_convs(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if type(m) is nn.Conv2d]


def test_resnet18_all_convs_but_kept_become_blocks():
    torch.manual_seed(0)
    model = resnet18(num_classes=10).eval()
    x = torch.randn(2, 3, 32, 32)
    before = model(x).shape
    out = convert(model, block="cfb", binarizer="dab", keep=["conv1", "fc"])
    assert out is model  # in place, names preserved
    assert real_convs(model) == ["conv1"]
    assert isinstance(model.layer1[0].conv1, Block) and isinstance(
        model.layer2[0].downsample[0], Block
    )
    assert isinstance(model.layer2[0].bn1, nn.BatchNorm2d)  # the original BN stays after the block
    assert model(x).shape == before
    cost = complexity.count(model, (3, 32, 32))
    assert cost.bops > 0
    assert {n for n, kind, _ in cost.layers if kind == "real"} == {"conv1", "fc"}
    assert "layer2.0.downsample.0.conv" in {n for n, kind, _ in cost.layers if kind == "binary"}


def test_gradients_reach_every_parameter():
    model = convert(resnet18(num_classes=4), block="plain", binarizer="reactnet", keep=["conv1"])
    model(torch.randn(2, 3, 32, 32)).square().mean().backward()
    assert not [n for n, p in model.named_parameters() if p.grad is None]


def test_keep_an_ancestor_keeps_its_subtree_and_typos_raise():
    model = convert(resnet18(), binarizer="bnn", keep=["layer4", "conv1"])
    assert all(n.startswith("layer4") or n == "conv1" for n in real_convs(model))
    assert len(real_convs(model)) == 1 + 5  # conv1, 4 convs + 1 downsample in layer4
    with pytest.raises(ValueError, match="match no module"):
        convert(resnet18(), keep=["layer5.*"])


def test_conv_bias_is_replaced_by_the_blocks_bn():
    net = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, bias=True))
    assert convert(net, binarizer="dab")[0].conv.bias is None
    # a method that gives its binary convs a bias (bnn) keeps its own
    net = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, bias=False))
    assert convert(net, binarizer="bnn")[0].conv.bias is not None


def test_tuples_dilation_and_shared_convs():
    shared = nn.Conv2d(8, 8, 3, padding=1)
    net = nn.Sequential(
        nn.Conv2d(4, 8, (1, 7), padding=(0, 3)),
        nn.Conv2d(8, 8, 3, padding=2, dilation=2),
        shared,
        shared,
    )
    x = torch.randn(2, 4, 9, 9)
    shape = net(x).shape
    convert(net, block="cfb", binarizer="dab")
    assert net(x).shape == shape
    assert net[0].conv.kernel_size == (1, 7) and net[1].conv.dilation == (2, 2)
    assert net[2] is net[3] and isinstance(net[2], Block)


def test_idempotent_and_copy_weights():
    net = nn.Sequential(nn.Conv2d(3, 4, 3))
    weight = net[0].weight.detach().clone()
    convert(net, copy_weights=True)
    assert torch.equal(net[0].conv.weight, weight)
    block = net[0]
    convert(net)  # blocks (and their BinaryConv2d) are already binary: left alone
    assert net[0] is block and isinstance(net[0].conv, BinaryConv2d)


@pytest.mark.parametrize(
    "conv, match",
    [
        (nn.Conv2d(3, 4, 3, stride=(1, 2)), "square stride"),
        (nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), "padding_mode"),
        (type("MyConv", (nn.Conv2d,), {})(3, 4, 3), "subclass"),
    ],
)
def test_unsupported_convs_raise(conv, match):
    with pytest.raises(ValueError, match=match):
        convert(nn.Sequential(conv))
