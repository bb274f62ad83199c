"""Classification architectures: layouts, stems, ES wiring, forward/backward at narrow width."""

import pytest
import torch

from bnnbench import models
from bnnbench.blocks.es import ExpandShrinkBlock
from bnnbench.models.layers import BlockChoice
from bnnbench.models.mobilenet import MOBILENET_WIDTHS, default_strides

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/models/conftest.py


NARROW = {"width_mult": 0.25, "num_classes": 10, "input_size": (32, 32)}
# ES with tau*g = 8 needs every width divisible by 8: ResNet-20 at half width (8, 16, 32)
ES_NARROW = {"resnet20": {**NARROW, "width_mult": 0.5}, "reactnet_a": NARROW}
ARCHS = ["mobilenet_v1", "reactnet_a", "bdnet_a", "bdnet_b", "resnet18", "resnet20"]
ES = {"name": "es", "tau": 4, "groups": 2}


def _forward_backward(model, size=32):
    torch.manual_seed(0)
    x = torch.randn(2, 3, size, size)
    y = model(x)
    assert y.shape == (2, 10) and torch.isfinite(y).all()
    y.logsumexp(1).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, missing


@pytest.mark.parametrize("name", ARCHS)
def test_registered_and_forward_backward(name):
    assert name in models.names()
    _forward_backward(models.build(name, **NARROW))


@pytest.mark.parametrize("name", ["resnet20", "reactnet_a"])
def test_es_tau4_g2(name):
    model = models.build(name, block=ES, **ES_NARROW[name])
    blocks = [m for m in model.modules() if isinstance(m, ExpandShrinkBlock)]
    assert blocks and all(b.expansion == 8 for b in blocks)
    # the natural block is wrapped: bireal for ResNets, reactnet for ReActNet-A
    natural = {"resnet20": "BiRealBlock", "reactnet_a": "ReActNetBlock"}[name]
    assert type(blocks[0].base).__name__ == natural
    stem_out = model.stem(torch.randn(1, 3, 32, 32))
    c = 8  # stem width: 16 * 0.5 (resnet20), 32 * 0.25 (reactnet_a)
    assert stem_out.shape[1] == 8 * c
    assert torch.equal(stem_out[:, :c], stem_out[:, 7 * c :])  # the stem output is tiled
    _forward_backward(model)


def test_es_with_any_binarizer_on_resnet20():
    for binarizer in ["bnn", "adabin", "dab", "bisrnet", "fp"]:
        _forward_backward(models.build("resnet20", block=ES, binarizer=binarizer, **ES_NARROW["resnet20"]))


def test_head_reads_the_base_width():
    model = models.build("resnet20", block=ES, readout="mean", **ES_NARROW["resnet20"])
    assert model.head.fc.in_features == 32  # 64 * 0.5, not 8x wider
    feats = torch.randn(2, 32 * 8, 4, 4)
    pooled = feats.reshape(2, 8, 32, 4, 4).mean(1).mean((2, 3))
    assert torch.allclose(model.head(feats), model.head.fc(pooled), atol=1e-6)
    with pytest.raises(ValueError, match="readout must be one of"):
        models.build("resnet20", readout="all", **NARROW)


def test_mobilenet_layout():
    # ReActNet-A: stride 2 where the width changes, except 32 -> 64
    assert default_strides(MOBILENET_WIDTHS) == [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
    m = models.build("reactnet_a")
    assert m.stem[0].stride == (2, 2) and len(m.features) == 13
    assert models.build("reactnet_a", input_size=(32, 32)).stem[0].stride == (1, 1)  # CIFAR stem


def _n_binary_convs(model):
    return sum(isinstance(m, torch.nn.Conv2d) and getattr(m, "binary", False) for m in model.modules())


def test_resnet_stems_and_depth():
    r18 = models.build("resnet18", num_classes=10)
    assert r18.stem[0].kernel_size == (7, 7) and isinstance(r18.stem[-1], torch.nn.MaxPool2d)
    assert _n_binary_convs(r18) == 16  # Bi-Real: 16 binary convs
    r18c = models.build("resnet18", input_size=(32, 32), num_classes=10)
    assert r18c.stem[0].kernel_size == (3, 3) and len(r18c.stem) == 3  # conv, expand, bn
    r20 = models.build("resnet20")
    assert _n_binary_convs(r20) == 18


def test_imagenet_sized_input_runs():
    for name in ["resnet18", "bdnet_b"]:
        model = models.build(name, width_mult=0.125, num_classes=10, input_size=(72, 72))
        assert model.stem[0].stride == (2, 2)  # > 64 px: the ImageNet stem
        _forward_backward(model, size=72)


def test_bdnet_b_keeps_strided_depthwise_real():
    m = models.build("bdnet_b", **NARROW)
    strided = [b for b in m.features if b.stride == 2]
    assert strided and all(b.real_dw and not b.conv.binary for b in strided)
    assert all(not b.real_dw for b in m.features if b.stride == 1)
    with pytest.raises(ValueError, match="no real_dw option"):
        models.build("bdnet_b", block="reactnet", **NARROW)


def test_block_groups_option():
    # a `groups` block option groups the regular convs (ES-BNN's g); depth-wise layers refuse it
    m = models.build("resnet20", block={"name": "bireal", "groups": 2}, **NARROW)
    assert m.features[0].conv.groups == 2
    with pytest.raises(ValueError, match="already has groups"):
        models.build("mobilenet_v1", block={"name": "plain", "groups": 2}, **NARROW)
    # es on a depth-wise layer runs it per replica (groups x tau*g) instead of shrinking it
    m = models.build("mobilenet_v1", block={"name": "es", "tau": 2}, **NARROW)
    dw = m.features[0].base.conv
    assert dw.groups == dw.in_channels == 2 * m.stem[0].out_channels


def test_block_choice_reads_expansion_before_building():
    assert BlockChoice("plain", "fp", "plain").expansion == 1
    assert BlockChoice({"name": "es", "tau": 4, "groups": 2}, "bnn", "bireal").expansion == 8
    assert BlockChoice({"name": "es"}, "bnn", "bireal").options["base"] == "bireal"


def test_bad_kwargs_are_rejected():
    with pytest.raises(ValueError, match="strides needs one entry per layer"):
        models.build("reactnet_a", strides=[1, 2], **NARROW)
    with pytest.raises(ValueError, match="widths and depths"):
        models.build("resnet20", widths=(16, 32), **NARROW)
    with pytest.raises(ValueError, match="width_mult must be > 0"):
        models.build("resnet20", width_mult=0)
    with pytest.raises(KeyError, match="valid choices"):
        models.build("resnet20", block="bireel")


@pytest.mark.parametrize("name", ["resnet20", "resnet18"])
def test_the_32_bit_resnet_is_not_a_linear_network(name):
    # with binarizer fp the "binarizer" is the identity, so without a ReLU after each slot the whole
    # ResNet would be affine in eval mode: f((a + b) / 2) == (f(a) + f(b)) / 2 for any a, b
    torch.manual_seed(0)
    fp = models.build(name, binarizer="fp", num_classes=10, widths=[8, 8, 16, 16][: 4 if name == "resnet18" else 3]).eval()
    a, b = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        gap = (fp((a + b) / 2) - (fp(a) + fp(b)) / 2).abs().max()
    assert gap > 1e-2
    assert isinstance(fp.act, torch.nn.ReLU)
    binary = models.build(name, binarizer="bireal", num_classes=10)
    assert isinstance(binary.act, torch.nn.Identity)  # sign() is the binary nets' nonlinearity
    assert binary.state_dict().keys() == models.build(name, binarizer="fp", num_classes=10).state_dict().keys()
