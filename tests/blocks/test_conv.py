"""BinaryConv2d wiring and channel arithmetic errors."""

import pytest
import torch
import torch.nn.functional as F

import bnnbench.blocks as K
from bnnbench.blocks.conv import BinaryConv2d


def test_binary_conv_is_conv_of_binarized_operands():
    conv = BinaryConv2d(3, 4, 3, padding=1, binarizer="bnn")
    x = torch.randn(2, 3, 5, 5)
    sx = torch.where(x >= 0, 1.0, -1.0)
    sw = torch.where(conv.weight >= 0, 1.0, -1.0)
    assert torch.allclose(conv(x), F.conv2d(sx, sw, conv.bias, padding=1))
    assert conv.binary and conv.bias is not None  # BiDense's BNN baseline gives binary convs a bias


def test_fp_is_an_ordinary_conv():
    conv = BinaryConv2d(3, 4, 3, binarizer="fp")
    x = torch.randn(1, 3, 5, 5)
    assert not conv.binary
    assert torch.allclose(conv(x), F.conv2d(x, conv.weight))


def test_real_weights_make_the_conv_real():
    # ReActNet step 1: binary activations, real weights -> not counted as BOPs
    conv = BinaryConv2d(3, 4, 3, binarizer={"name": "reactnet", "weight": "identity"})
    assert not conv.binary


def test_impossible_groups_are_rejected_with_the_numbers():
    with pytest.raises(ValueError, match="groups=4 must divide both in_channels=6"):
        K.build("plain", 6, 8, 3, groups=4, binarizer="dab")


def test_unknown_block_names_the_choices():
    with pytest.raises(KeyError, match="valid choices are .*cfb.*plain"):
        K.build("cfbb", 4, 4, 3)


@pytest.mark.parametrize(
    "binarizer",
    ["bnn", "reactnet", "adabin", "bisrnet", "dab", {"name": "dab", "scale": "learnable"}, {"name": "dab", "scale": "mad"}],
)
def test_compact_saved_input_gives_the_same_gradients(binarizer):
    # the conv's saved binarized input is stored as bits + levels and must rebuild exactly
    torch.manual_seed(0)
    conv = BinaryConv2d(4, 6, 3, padding=1, binarizer=binarizer)
    if hasattr(conv.binarizer, "alpha") and conv.binarizer.alpha.dim() == 4:
        with torch.no_grad():
            conv.binarizer.alpha.copy_(torch.tensor([1.5, -0.5, 0.0, 2.0]).view(1, 4, 1, 1))
    x = torch.randn(2, 4, 7, 7, requires_grad=True)
    g = torch.randn(2, 6, 7, 7)
    grads = []
    for compact in (True, False):
        conv.compact_saved_input = compact
        x.grad, conv.weight.grad = None, None
        (conv(x) * g).sum().backward()
        grads.append((x.grad.clone(), conv.weight.grad.clone()))
    assert torch.equal(grads[0][0], grads[1][0]) and torch.equal(grads[0][1], grads[1][1])


def test_compact_saved_input_stores_bytes_not_floats():
    conv = BinaryConv2d(4, 6, 3, padding=1, binarizer="dab")
    x = torch.randn(2, 4, 7, 7, requires_grad=True)
    sizes = []

    def pack(t):
        sizes.append((t.dtype, t.numel()))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        conv(x)
    # what the hooks see outside: DAB saves x (float) and its statistics; the conv's own
    # saved input goes through the inner hooks, so no second full-size float tensor appears
    full_floats = [s for s in sizes if s == (torch.float32, x.numel())]
    assert len(full_floats) == 1


def test_unbatched_input_is_refused_with_its_shape():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\) input, got shape \(3, 6, 6\)"):
        BinaryConv2d(3, 4, 3, binarizer="dab")(torch.randn(3, 6, 6))
