"""Every registry entry through the same checks: build, forward, backward, finite gradients."""

import pytest
import torch

import bnnbench.binarizers as B
import bnnbench.blocks as K

# (in_ch, out_ch, kernel, stride, padding, groups): a widening strided conv, a depth-wise conv,
# a narrowing 1x1 conv
SHAPES = [(8, 16, 3, 2, 1, 1), (16, 16, 3, 1, 1, 16), (16, 8, 1, 1, 0, 1)]


@pytest.mark.parametrize("name", B.names())
def test_every_binarizer_forward_backward(name):
    torch.manual_seed(0)
    m = B.build(name, 4)
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    y = m(x)
    assert y.shape == x.shape
    if m.binary:
        # a binarized activation takes two values per (sample, channel) at most
        per_channel = y.detach().reshape(2, 4, -1)
        assert all(len(per_channel[n, c].unique()) <= 2 for n in range(2) for c in range(4))
    y.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    for pname, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname


@pytest.mark.parametrize("binarizer", B.names())
@pytest.mark.parametrize("block", K.names())
def test_every_block_with_every_binarizer(block, binarizer):
    torch.manual_seed(0)
    built = 0
    for cin, cout, k, s, p, g in SHAPES:
        try:
            blk = K.build(block, cin, cout, k, s, p, g, binarizer=binarizer)
        except ValueError:
            continue  # the block declares this conv unsupported, before any work
        built += 1
        width = getattr(blk, "expansion", 1)
        x = torch.randn(2, cin * width, 8, 8, requires_grad=True)
        y = blk(x)
        out_hw = (8 + 2 * p - k) // s + 1
        assert y.shape == (2, cout * width, out_hw, out_hw)
        y.square().mean().backward()
        assert torch.isfinite(x.grad).all()
        missing = [n for n, q in blk.named_parameters() if q.requires_grad and q.grad is None]
        assert not missing, missing
    assert built, f"block {block} built for none of {SHAPES}"
