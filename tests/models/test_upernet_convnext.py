"""BiDense's 32-bit row is a standard ConvNeXt + UPerNet (Liu et al. 2022; Xiao et al. 2018), built
from timm and segmentation_models_pytorch, not the binary network with its signs removed."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bnnbench.blocks.conv import BinaryConv2d
from bnnbench.run.job import build_model, check, describe_data

from ..cli.conftest import make_cfg


def _model(*overrides: str) -> nn.Module:
    cfg = make_cfg("experiment=bidense_table1", *overrides, tiny=False)
    check(cfg)
    return build_model(cfg, describe_data(cfg))


def test_the_32_bit_row_is_a_standard_convnext_upernet_at_the_proxy_widths():
    model = _model("+experiment/bidense=fp")
    kinds = {type(m).__name__ for m in model.modules()}
    assert not any(isinstance(m, BinaryConv2d) for m in model.modules())
    assert {"LayerNorm2d", "GELU", "ConvNeXtBlock", "PSPModule", "FPNLateralBlock", "Conv2dReLU"} <= kinds  # timm, smp
    assert model.net.encoder.model.stages_3.blocks[0].conv_dw.in_channels == 128  # the narrow preset's dims
    out = model.eval()(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 6, 64, 64)


def test_the_binary_network_with_fp_binarizers_is_its_own_ablation_row():
    model = _model("+experiment/bidense=fp_binary")
    assert any(isinstance(m, BinaryConv2d) for m in model.modules())


def test_a_binarizer_or_block_on_the_32_bit_baseline_is_refused():
    with pytest.raises(ValueError, match="upernet_convnext is the 32-bit baseline .* got binarizer=dab"):
        _model("model=upernet_convnext_narrow", "binarizer=dab", "block=auto")


def test_depth_head():
    cfg = make_cfg("task=depth", "model=upernet_convnext_narrow", "binarizer=fp", "block=auto", tiny=False)
    check(cfg)
    model = build_model(cfg, describe_data(cfg)).eval()
    depth = model(torch.randn(2, 3, 64, 64))
    assert depth.shape == (2, 1, 64, 64) and float(depth.min()) > 0 and float(depth.max()) < cfg.data.get("max_depth", 10)
