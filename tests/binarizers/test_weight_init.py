"""Per-method weight init and the weight-gradient switch, as each authors' code has them."""

import math

import pytest
import torch

from bnnbench.blocks.conv import BinaryConv2d


def conv(binarizer, cin=64, cout=64, k=3):
    torch.manual_seed(0)
    return BinaryConv2d(cin, cout, k, padding=1, binarizer=binarizer)


def test_reactnet_and_bireal_init_uniform_0_1e3():
    # ReActNet / Bi-Real code: torch.rand(...) * 0.001
    for name in ("reactnet", "bireal", "insta"):
        w = conv(name).weight
        assert 0 <= w.min() and w.max() < 1e-3 and abs(w.mean().item() - 5e-4) < 2e-5


def test_dab_init_normal_std_1e3():
    # BiDense code: normal(std=1e-3)
    w = conv("dab").weight
    assert w.std().item() == pytest.approx(1e-3, rel=0.03) and abs(w.mean().item()) < 1e-4


def test_adabin_init_fan_out_normal():
    # AdaBin code: normal(0, sqrt(2 / (k * k * C_out)))
    w = conv("adabin", cout=32).weight
    assert w.std().item() == pytest.approx(math.sqrt(2 / (9 * 32)), rel=0.03)


@pytest.mark.parametrize("name", ["bisrnet", "bnn", "fp"])
def test_conv_default_init(name):
    # BiSRNet (BiSCI) code keeps nn.Conv2d's kaiming-uniform: |W| <= 1 / sqrt(fan_in)
    w = conv(name).weight
    bound = 1 / math.sqrt(64 * 9)
    assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound


def test_irnet_init_kaiming_normal():
    # IR-Net CIFAR code: init.kaiming_normal, std sqrt(2 / fan_in)
    assert conv("irnet").weight.std().item() == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.03)


def test_weight_gradient_switch_from_the_binarizer_config():
    # binarizer.weight=meanabs_scaled: dL/dW multiplied by alpha_w = mean|W| (XNOR-style)
    grads = {}
    for weight in (None, "meanabs_scaled"):
        c = conv({"name": "reactnet", "weight": weight} if weight else "reactnet", 4, 4)
        c(torch.randn(2, 4, 5, 5)).square().sum().backward()
        grads[weight] = c.weight.grad
    alpha = conv("reactnet", 4, 4).weight.abs().mean((1, 2, 3), keepdim=True)
    assert torch.allclose(grads["meanabs_scaled"], grads[None] * alpha, rtol=1e-4, atol=1e-12)
