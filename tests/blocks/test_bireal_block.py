"""Bi-Real conv block (Liu et al. 2018): BN(conv(B(x))) + shortcut, downsampling shortcut
AvgPool2 -> real 1x1 -> BN (Bi-Real Net, ResNet-18 layout)."""

import torch
import torch.nn.functional as F

import bnnbench.blocks as K
from bnnbench.core import complexity


def test_identity_shortcut():
    torch.manual_seed(0)
    blk = K.build("bireal", 4, 4, 3, 1, 1, binarizer="bnn").eval()
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        assert torch.allclose(blk(x), blk.bn(blk.conv(x)) + x)


def test_downsampling_shortcut_is_avgpool_real_1x1_bn():
    torch.manual_seed(0)
    blk = K.build("bireal", 4, 8, 3, 2, 1, binarizer="reactnet").eval()
    conv, bn = blk.downsample
    assert not conv.binary and conv.kernel_size == (1, 1)
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        expected = blk.bn(blk.conv(x)) + bn(F.conv2d(F.avg_pool2d(x, 2), conv.weight))
        assert torch.allclose(blk(x), expected, atol=1e-6)
    cost = complexity.count(blk, (4, 8, 8))
    assert cost.bops == 4 * 8 * 9 * 16 and cost.flops == 4 * 8 * 16
