"""Cost counting against hand-computable layers (BD-Net Table 1, docs/methods.md conventions)."""

import pytest
import torch
from torch import nn

from bnnbench.blocks.conv import BinaryConv2d
from bnnbench.core.complexity import count


def test_regular_3x3_conv_at_56x56():
    # 128*128*9*56*56 = 462,422,016 MACs real; binary: /64 = 7.23M OPs (BD-Net Table 1)
    real = count(nn.Conv2d(128, 128, 3, padding=1, bias=False), (128, 56, 56))
    assert real.flops == 462_422_016 and real.bops == 0
    binary = count(BinaryConv2d(128, 128, 3, padding=1, binarizer="bnn", bias=False), (128, 56, 56))
    assert binary.bops == 462_422_016 and binary.flops == 0
    assert binary.ops == pytest.approx(7.225e6, rel=1e-3)


def test_depthwise_3x3_conv_at_56x56():
    # 128*9*56*56 = 3,612,672 MACs real (3.61M); binary 56,448 OPs (56K)
    real = count(nn.Conv2d(128, 128, 3, padding=1, groups=128, bias=False), (128, 56, 56))
    assert real.flops == 3_612_672
    binary = count(BinaryConv2d(128, 128, 3, padding=1, groups=128, binarizer="dab"), (128, 56, 56))
    assert binary.bops == 3_612_672 and binary.ops == 56_448


def test_grouped_conv_counts_cin_over_g():
    c = count(nn.Conv2d(64, 32, 3, padding=1, groups=4, bias=False), (64, 10, 10))
    assert c.flops == 32 * 10 * 10 * (64 // 4) * 9


def test_params_split_real_and_binary():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, bias=False),  # 216 real
        BinaryConv2d(8, 16, 3, binarizer="dab"),  # 1152 binary + 3*8 DAB params
        nn.BatchNorm2d(16),  # 32 real
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 10),  # 2570 real
    )
    c = count(model, (3, 8, 8))
    assert c.binary_params == 1152
    assert c.real_params == 216 + 24 + 32 + 2570
    assert c.params == pytest.approx(c.real_params + 1152 / 32)
    # MACs: conv 8*6*6*27 real, binary 16*4*4*72, linear 256*10 real
    assert c.flops == 8 * 36 * 27 + 2560
    assert c.bops == 16 * 16 * 72
    assert c.bn_ops == 16 * 16
    assert c.ops_plus == pytest.approx(c.ops + 256)


def test_count_restores_training_mode():
    m = nn.Sequential(nn.Conv2d(1, 1, 1), nn.BatchNorm2d(1))
    m.train()
    count(m, (1, 4, 4))
    assert m.training
    with pytest.raises(ValueError, match="one sample"):
        count(m, (2, 1, 4, 4))


def test_cost_model_input_is_on_model_device():
    m = nn.Conv2d(1, 1, 1)
    assert count(m, torch.Size([1, 2, 2])).flops == 4


def test_flops_split_into_conv_and_fc_as_es_bnn_table6():
    # ES-BNN Table 6 breaks FLOPs into Conv and FC and adds BN FLOPs (one per BN output) for OPs+.
    # By hand: real stem 8*6*6*27 = 7776, binary conv 16*4*4*72 = 18432 BOPs, BN 16*4*4 = 256,
    # real classifier 256*10 = 2560.
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, bias=False), BinaryConv2d(8, 16, 3, binarizer="bnn"), nn.BatchNorm2d(16),
        nn.Flatten(), nn.Linear(256, 10),
    )
    c = count(model, (3, 8, 8))
    assert (c.conv_flops, c.fc_flops, c.bops, c.bn_ops) == (7776, 2560, 18432, 256)
    assert c.flops == c.conv_flops + c.fc_flops
    assert c.ops_plus == 7776 + 2560 + 18432 / 64 + 256
    summary = c.summary()
    assert summary["conv_flops"] == 7776 and summary["fc_flops"] == 2560
