"""Cost of the classification architectures against the BNN literature (docs/methods.md "Cost
accounting": BOPs binary MACs, FLOPs real MACs, OPs = FLOPs + BOPs/64).

Paper values are printed with two or three significant digits; each tolerance covers that
rounding plus the small differences in what the papers count (noted where they matter).
"""

import functools

import pytest

from bnnbench import models
from bnnbench.core import complexity

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/models/conftest.py


IMAGENET = (3, 224, 224)
CIFAR = (3, 32, 32)


@functools.cache
def _cost(name: str, size: tuple, num_classes: int, dual: str | None = None) -> complexity.Cost:
    kwargs = {"num_classes": num_classes, "input_size": size[1:]}
    if dual is not None:
        kwargs["block"] = {"name": "bdnet", "dual": dual}
    return complexity.count(models.build(name, **kwargs), size)


def test_mobilenet_v1_fp32():
    # MobileNetV1 (Howard et al. 2017, Table 1 sum): 569M mult-adds, 4.2M params; BD-Net
    # Table 2 lists 569M OPs for the full-precision model on 224 px Flowers-102
    c = _cost("mobilenet_v1", IMAGENET, 1000)
    assert c.bops == 0
    assert c.flops == pytest.approx(569e6, rel=0.005)
    assert c.params == pytest.approx(4.2e6, rel=0.01)


def test_reactnet_a_imagenet():
    # BD-Net Table 3 / ES-BNN Table 2, ReActNet MobileNetV1: BOPs 4.82e9, FLOPs 0.12e8, OPs 0.87e8
    c = _cost("reactnet_a", IMAGENET, 1000)
    assert c.bops == pytest.approx(4.82e9, rel=0.005)
    assert c.flops == pytest.approx(0.12e8, rel=0.02)
    assert c.ops == pytest.approx(0.87e8, rel=0.005)


@pytest.mark.parametrize(
    ("name", "bops", "flops", "ops"),
    [("bdnet_a", 1.09e9, 0.13e8, 0.30e8), ("bdnet_b", 1.08e9, 0.16e8, 0.33e8)],
)
def test_bdnet_imagenet_dual_all(name, bops, flops, ops):
    # BD-Net Table 3 (ReActNet-based). Its ImageNet BOPs fit 1.58-bit point-wise convs too
    # (dual: all, docs/methods.md). The paper's FLOPs (0.13e8 for A) exceed the stem + FC that both
    # it and ReActNet-A (0.12e8) keep real; we count 0.119e8 for A, hence 10% on FLOPs.
    c = _cost(name, IMAGENET, 1000, "all")
    assert c.bops == pytest.approx(bops, rel=0.03)
    assert c.flops == pytest.approx(flops, rel=0.1)
    assert c.ops == pytest.approx(ops, rel=0.04)


def test_bdnet_imagenet_dual_dw():
    # docs/methods.md: doubling only the depth-wise convs gives about 0.57e9 BOPs on ImageNet
    assert _cost("bdnet_a", IMAGENET, 1000, "dw").bops == pytest.approx(0.57e9, rel=0.01)
    # BD-Net-B: the real stride-2 depth-wise convs move MACs from BOPs to FLOPs
    a, b = _cost("bdnet_a", IMAGENET, 1000, "dw"), _cost("bdnet_b", IMAGENET, 1000, "dw")
    assert b.bops < a.bops and b.flops > a.flops


@pytest.mark.parametrize(
    ("name", "ops", "rel"),
    [("reactnet_a", 6.97e6, 0.015), ("bdnet_a", 1.56e6, 0.05), ("bdnet_b", 1.83e6, 0.05)],
)
def test_cifar_ops_dual_dw(name, ops, rel):
    # BD-Net Table 2, CIFAR-10 OPs (stride-1 stem): ReActNet 6.97M, BD-Net-A 1.56M,
    # BD-Net-B 1.83M, with only the depth-wise convs 1.58-bit (the default, dual: dw). We count
    # 7.04M / 1.63M / 1.90M: the paper's counter gives slightly fewer OPs for every model
    # (its 32-bit MobileNetV1 is 42.6M where the same layout has 46.4M MACs).
    c = _cost(name, CIFAR, 10, None if name == "reactnet_a" else "dw")
    assert c.ops == pytest.approx(ops, rel=rel)


def test_resnet18_bireal_imagenet():
    # ES-BNN Table 6 (ResNet-18 baseline): conv FLOPs 1.373e8 + FC 0.005e8, BOPs 1.676e9,
    # OPs 1.640e8, BN FLOPs 0.025e8, OPs+ 1.665e8 (BD-Net Table 3, Bi-Real: 1.68e9 / 1.41e8 / 1.67e8)
    c = _cost("resnet18", IMAGENET, 1000)
    assert c.bops == pytest.approx(1.676e9, rel=0.001)
    assert c.flops == pytest.approx(1.378e8, rel=0.001)
    assert c.ops == pytest.approx(1.640e8, rel=0.001)
    assert c.bn_ops == pytest.approx(0.025e8, rel=0.01)
    assert c.ops_plus == pytest.approx(1.665e8, rel=0.001)


def test_es_keeps_the_bops_of_its_base_model():
    # ES-BNN Table 6: BOPs 1.676e9 with and without ES; conv FLOPs unchanged (the head reads the
    # base width, so the FC does not grow either); BN work grows with the expanded width
    es = complexity.count(models.build("resnet18", block={"name": "es", "tau": 4, "groups": 2}), IMAGENET)
    base = _cost("resnet18", IMAGENET, 1000)
    assert es.bops == base.bops and es.flops == base.flops
    assert es.bn_ops > base.bn_ops
    for name, kw in [("resnet20", {}), ("reactnet_a", {"input_size": (32, 32), "num_classes": 10, "width_mult": 0.5})]:
        base = complexity.count(models.build(name, **kw), CIFAR)
        es = complexity.count(models.build(name, block={"name": "es", "tau": 4, "groups": 2}, **kw), CIFAR)
        assert es.bops == base.bops and es.flops == base.flops


REACTNET_BR = {"block": {"name": "reactnet", "br": True}, "binarizer": "reactnet", "regular_dw": True}


def _cifar(name: str, **kwargs) -> complexity.Cost:
    return complexity.count(models.build(name, num_classes=10, input_size=(32, 32), **kwargs), CIFAR)


@pytest.mark.parametrize(("name", "kwargs", "ops", "rel"), [
    ("shufflenet_v1", {}, 9.70e6, 0.16),
    ("shufflenet_v1", REACTNET_BR, 1.32e6, 0.03),
    ("shufflenet_v1_bdnet_b", {}, 0.87e6, 0.04),
])
def test_shufflenet_v1_cifar_ops(name, kwargs, ops, rel):
    # BD-Net Table 4, CIFAR OPs: full precision 9.70M, ReActNet (w/ and w/o br) 1.32M, BD-Net-B
    # 0.87M. ShuffleNet V1 1x, g = 3, the CIFAR stem at stride 1 with its max-pool kept (without
    # it the 32-bit model is 42.6M). We count 11.15M / 1.350M / 0.900M: the binary rows within 4%;
    # the 32-bit one 15% above, as for MobileNetV1 in Table 2 (the paper's counter is low on
    # 32-bit models: 42.6M where the layout has 46.4M MACs).
    assert _cifar(name, **kwargs).ops == pytest.approx(ops, rel=rel)


def _shuffle_unit_macs(cin: int, cout: int, stride: int, g: int, g1: int, hw: int, dw_groups: bool = True) -> int:
    """ShuffleNet V1 unit MACs by hand (Zhang et al. 2018, Fig. 2): 1x1 group conv to cout/4,
    3x3 depth-wise (or regular) at stride s, 1x1 group conv to cout (cout - cin when strided)."""
    mid, out = cout // 4, hw // stride
    branch = cout - cin if stride == 2 else cout
    spatial = 9 * mid if dw_groups else 9 * mid * mid
    return cin // g1 * mid * hw * hw + spatial * out * out + mid // g * branch * out * out


def test_shufflenet_v1_cifar_macs_by_hand():
    # stem 3x3 3 -> 24 at 32 px, max-pool to 16 px, stages (240, 480, 960) x (4, 8, 4), FC 960 -> 10
    def total(dw_groups: bool) -> tuple[int, int]:
        units, cin, hw = 0, 24, 16
        for width, depth in zip((240, 480, 960), (4, 8, 4)):
            for j in range(depth):
                units += _shuffle_unit_macs(cin, width, 2 if j == 0 else 1, 3, 1 if cin == 24 else 3, hw, dw_groups)
                hw, cin = (hw // 2 if j == 0 else hw), width
        return 3 * 24 * 9 * 32 * 32, units

    stem, units = total(True)
    assert _cifar("shufflenet_v1").flops == stem + units + 960 * 10
    react = _cifar("shufflenet_v1", **REACTNET_BR)  # every conv binary, the 3x3s regular
    assert (react.flops, react.bops) == (stem + 960 * 10, total(False)[1])
    # br adds only full-precision residual adds, no MACs (BD-Net Table 4: same OPs with and without)
    assert _cifar("shufflenet_v1", **{**REACTNET_BR, "block": {"name": "reactnet", "br": False}}).ops == react.ops


@pytest.mark.parametrize(("name", "kwargs", "ops", "rel"), [
    ("mobilenet_v3", {}, 25.9e6, 0.23),
    ("mobilenet_v3", REACTNET_BR, 9.80e6, 0.04),
    ("mobilenet_v3_bdnet_b", {}, 1.14e6 * 3.36, 0.01),
])
def test_mobilenet_v3_cifar_ops(name, kwargs, ops, rel):
    # BD-Net Table 5, CIFAR OPs: full precision 25.9M, ReActNet 9.80M, BD-Net-B 1.14M, on
    # torchvision's MobileNet V3-Large with the stride-1 CIFAR stem. We count 20.1M / 10.14M /
    # 3.83M. ReActNet is within 4%. No torchvision variant gives the 32-bit 25.9M (Large 20.1M,
    # Small 5.5M). BD-Net-B is 3.36x the paper's: the real squeeze-excitation FCs (1.5M) and the
    # classifier's hidden Linear 960 -> 1280 (1.2M) alone exceed 1.14M; the paper's figure fits
    # only with those binary too, which would in turn put ReActNet near 7.5M instead of 9.80M,
    # so the two rows cannot both be reproduced by one counting rule.
    assert _cifar(name, **kwargs).ops == pytest.approx(ops, rel=rel)
