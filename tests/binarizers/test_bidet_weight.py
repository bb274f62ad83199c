"""BiDet's binary conv: mean|W| sign(W) with the scale's gradient and an identity STE; -1 padding."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bnnbench.binarizers import BinarizerSpec
from bnnbench.binarizers.weights import build_weight
from bnnbench.blocks.conv import BinaryConv2d


def test_bidet_weight_forward_and_gradient_by_hand():
    w = torch.tensor([[0.5, -2.0], [1.5, 0.0]]).reshape(2, 1, 2, 1).requires_grad_()
    out = build_weight("bidet")(w)
    # row 0: mean|W| = 1.25 -> +1.25, -1.25; row 1: 0.75 -> +0.75, +0.75 (sign(0) = +1)
    assert out.flatten().tolist() == [1.25, -1.25, 0.75, 0.75]
    g = torch.tensor([1.0, 3.0, 2.0, -1.0]).reshape(2, 1, 2, 1)
    out.backward(g)
    # dL/dW_i = alpha g_i + d|W_i|/dW_i / n * sum_j g_j b_j, b = the binary sign, d|W|/dW = 0 at 0
    # (torch's abs and BiDet's code alike); |W| > 1 is not clipped
    row0 = [1.25 * 1 + 0.5 * (1 - 3), 1.25 * 3 - 0.5 * (1 - 3)]
    row1 = [0.75 * 2 + 0.5 * (2 - 1), 0.75 * -1 + 0.0]
    assert torch.allclose(w.grad.flatten(), torch.tensor(row0 + row1))


def test_minus_one_padding_pads_the_binarized_input():
    torch.manual_seed(0)
    conv = BinaryConv2d(3, 4, 3, 1, 1, binarizer={"name": "bireal", "pad_value": -1})
    x = torch.randn(2, 3, 5, 5)
    xb = F.pad(torch.where(x >= 0, 1.0, -1.0), (1, 1, 1, 1), value=-1.0)
    want = F.conv2d(xb, conv.weight_binarizer(conv.weight), conv.bias)
    assert torch.allclose(conv(x), want, atol=1e-6)
    zero = BinaryConv2d(3, 4, 3, 1, 1, binarizer="bireal")
    zero.load_state_dict(conv.state_dict())
    assert not torch.allclose(zero(x), want, atol=1e-3)
    assert BinarizerSpec.of({"name": "bireal", "pad_value": -1}).pad_value == -1.0
