"""BiDense ConvNeXt-T + UPerNet: the paper's costs (Table 1/4), the narrow preset, the options."""

import pytest
import torch

from bnnbench import models
from bnnbench.binarizers import BinarizerSpec
from bnnbench.blocks import BinaryConv2d
from bnnbench.core import complexity

# BiDense Table 4 (ADE20K, 150 classes): Params in K
PAPER = {"fp": 40_023e3, "reactnet": 1_531e3, "dab": 1_626e3, "w/o DAB": 1_484e3}
NARROW = dict(dims=(16, 32, 64, 128), depths=(1, 1, 1, 1), decoder_channels=32, head_channels=32)
# 32 = 4 * 2^3: the smallest input every stage sees (the last one at 1x1); Params need no more
SMALL = (3, 32, 32)


@pytest.fixture(scope="module")
def full(one_thread):
    """Cost of the full-width model (150 classes) per binarizer, block cfb: one forward each."""
    torch.manual_seed(0)
    out = {}
    for name in ("fp", "bnn", "reactnet", "dab"):
        model = models.build("convnext_upernet", binarizer=name, out_channels=150)
        in_ch = sum(
            m.in_channels for m in model.modules() if isinstance(m, BinaryConv2d) and m.binary
        )
        out[name] = (complexity.count(model, SMALL), in_ch)
    return out


def test_fp_baseline_params_match_paper(full):
    """32-bit baseline through the same code: 39,927,158 params vs the paper's 40,023K (-0.24%).

    The released fp32 code (BN after each conv, conv biases, GELU) has 39,912,406 for 150
    classes; ours replaces GELU by bias+PReLU (+56K) and drops conv biases before BN (-42K).
    """
    cost, _ = full["fp"]
    assert cost.binary_params == 0 and cost.bops == 0
    assert cost.params == pytest.approx(PAPER["fp"], rel=0.01)
    assert cost.real_params == 39_927_158


def test_binary_models_binarize_every_conv_but_stem_and_classifier(full):
    for name in ("bnn", "reactnet", "dab"):
        cost, _ = full[name]
        assert {n for n, kind, _ in cost.layers if kind == "real"} == {
            "encoder.stem.0",
            "head.classifier",
        }
        # the binary weights are the 32-bit model's conv weights minus stem and classifier
        assert cost.binary_params == 39_759_840


def test_binarizer_parameters_step_like_the_paper(full):
    """DAB has 3 parameters per input channel of every binary conv, RSign 1 (k, b, a vs beta).

    Sum of binary-conv input channels: 47,072; the paper's ablation steps by 47K per DAB
    parameter set (1,626 -> 1,579 -> 1,531 -> 1,484) and dab - reactnet = 95K.
    """
    (dab, in_ch), (react, in_ch_r) = full["dab"], full["reactnet"]
    assert in_ch == in_ch_r == 47_072
    assert dab.real_params - react.real_params == 2 * in_ch
    assert dab.params - react.params == pytest.approx(PAPER["dab"] - PAPER["reactnet"], abs=1.5e3)


def test_binary_params_vs_paper(full):
    """Params = real + binary/32 with every conv binary except stem and classifier (BiDense Sec. 4.1):
    dab 1,551,029 (paper 1,626K, -4.6%), reactnet 1,456,885 (1,531K), bnn 1,453,173.

    The binarizer steps match the paper (test above), so the gap is a constant ~74K common to
    every binary variant. It cannot be the head: making the out conv and head 3x3 real as in
    the released code gives 1,800K, and OPs of 40.5G instead of the paper's 5.37G (ours with
    binary ones: 5.50G at 480x480). The released code also counts its unused ImageNet
    classifier (Linear 768->1000 + LayerNorm) in model.parameters(); see the report.
    """
    assert full["dab"][0].params == 1_551_029
    assert full["reactnet"][0].params == 1_456_885
    # bnn: sign weights (no scale), no binarizer parameters, a bias on every binary conv
    assert full["bnn"][0].params == 1_453_173
    assert full["dab"][0].params == pytest.approx(PAPER["dab"], rel=0.05)
    assert full["reactnet"][0].params == pytest.approx(PAPER["reactnet"], rel=0.05)


@pytest.mark.parametrize("binarizer", ["dab", "fp"])
def test_narrow_seg_forward_backward(binarizer):
    torch.manual_seed(0)
    model = models.build("convnext_upernet", binarizer=binarizer, out_channels=5, **NARROW)
    x = torch.randn(2, 3, 64, 64, requires_grad=True)
    y = model(x)
    assert y.shape == (2, 5, 64, 64)
    y.square().mean().backward()
    assert torch.isfinite(x.grad).all()
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert not unused, unused


def test_narrow_depth_in_range_at_odd_size():
    torch.manual_seed(0)
    model = models.build(
        "convnext_upernet", head_kind="depth", max_depth=10.0, out_channels=1, **NARROW
    )
    x = torch.randn(2, 3, 60, 76)
    y = model(x)
    assert y.shape == (2, 1, 60, 76)
    assert (y > 0).all() and (y < 10.0).all()
    y.mean().backward()
    assert model.head.classifier.out_channels == 1 and model.head.conv.out_channels == 32


def test_block_residual_auto_follows_the_binarizer():
    def residual(**kw):
        model = models.build("convnext_upernet", out_channels=3, **NARROW, **kw)
        return model.encoder.stages[0][0].residual

    assert residual(binarizer="fp") and not residual(binarizer="dab")
    assert residual(binarizer="dab", block_residual=True)
    assert not residual(binarizer="fp", block_residual=False)
    with pytest.raises(ValueError, match="block_residual"):
        residual(binarizer="dab", block_residual="yes")


def test_config_mappings_reach_blocks_and_binarizers():
    """The CLI passes the block as a mapping and the binarizer as a BinarizerSpec."""
    model = models.build(
        "convnext_upernet",
        block={"name": "cfb", "grouping": "contiguous"},
        binarizer=BinarizerSpec.of({"name": "dab", "threshold": "none"}),
        out_channels=3,
        **NARROW,
    )
    dw = model.encoder.stages[0][0].dwconv
    assert dw.grouping == "contiguous" and dw.conv.binarizer.threshold == "none"
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 3, 32, 32)


def test_real_head_option_and_wider_fpn():
    model = models.build(
        "convnext_upernet", out_channels=3, real_head=True, **{**NARROW, "fpn_channels": 24}
    )
    cost = complexity.count(model, (3, 64, 64))
    real = {n for n, kind, _ in cost.layers if kind == "real"}
    assert real == {"encoder.stem.0", "out_conv.0", "head.conv.0", "head.classifier"}
    assert model.decoder.fpn.lateral0 is not None  # level 0 (16 ch) brought to 24


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(dims=(16, 32), depths=(1, 1, 1)), "same length"),
        (dict(head_kind="cls"), "head_kind"),
        (dict(out_channels=0), "out_channels"),
        (dict(head_kind="depth", max_depth=0.0), "max_depth"),
        (dict(psp_bins=()), "psp_bins"),
    ],
)
def test_impossible_arguments_raise(kwargs, match):
    args = {**NARROW, "out_channels": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        models.build("convnext_upernet", **args)


def test_unknown_model_names_the_choices():
    with pytest.raises(KeyError, match="convnext_upernet"):
        models.build("convnext_uppernet")
