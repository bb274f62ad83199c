"""Binary linear layers on tokens and the binary ViT (timm's VisionTransformer converted): DAB's
statistics over tokens (BiDense Eqs. 4-10), cost by hand, ES on the FFN (ES-BNN Appendix C)."""

import pytest
import torch
import torch.nn.functional as F

from bnnbench import binarizers, models
from bnnbench.blocks.linear import BinaryLinear, TokenSlot
from bnnbench.core import complexity
from bnnbench.models.vit import CountedAttention, ReplicaAttention

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = {"num_classes": 4, "input_size": (16, 16), "embed_dim": 16, "depth": 2, "num_heads": 2}


def _sign(v):
    return torch.where(v >= 0, 1.0, -1.0)


@pytest.mark.parametrize("binarizer", binarizers.names())
def test_binary_linear_takes_every_binarizer_on_tokens_and_vectors(binarizer):
    torch.manual_seed(0)
    lin = BinaryLinear(8, 6, binarizer=binarizer)
    x = torch.randn(3, 5, 8, requires_grad=True)
    y = lin(x)
    assert y.shape == (3, 5, 6) and torch.isfinite(y).all()
    y.square().mean().backward()
    assert torch.isfinite(x.grad).all() and lin.weight.grad is not None
    assert lin(torch.randn(3, 8)).shape == (3, 6)
    # BOPs (or FLOPs for real binarizers) = L * C_in * C_out
    cost = complexity.count(lin, (8, 5, 1))
    assert cost.bops + cost.flops == 5 * 8 * 6


def test_dab_statistics_are_over_tokens():
    # BiDense Eqs. 4-10 on (N, L, C): mu = mean over L per sample and channel; x_s = x - (k mu + b);
    # alpha = exp(a (mean_L |x_s| - 1)); out = alpha sign(x_s); weights meanabs (Eq. 3)
    torch.manual_seed(0)
    lin = BinaryLinear(4, 3, binarizer="dab")
    dab = lin.binarizer
    for name in ("k", "b", "a"):
        getattr(dab, name).data.normal_()
    x = torch.randn(2, 7, 4)
    k, b, a = (getattr(dab, n).view(1, 1, 4) for n in ("k", "b", "a"))
    xs = x - (k * x.mean(1, keepdim=True) + b)
    act = torch.exp(a * (xs.abs().mean(1, keepdim=True) - 1)) * _sign(xs)
    w = lin.weight.view(3, 4)
    wb = w.abs().mean(1, keepdim=True) * _sign(w)
    with torch.no_grad():
        assert torch.allclose(lin(x), act @ wb.T, atol=1e-5)


def test_vit_layout_and_cost_by_hand():
    # DeiT-Tiny at 32 px, patch 4: L = 64 + 1 tokens, C = 192, 12 blocks. Binary per block:
    # L (C 3C + C C + 2 C 4C); real: patch embed 64 * C * 3 * 4 * 4, attention matmuls 2 L^2 C
    # per block, head C * 10
    net = models.build("vit", num_classes=10, input_size=(32, 32))
    assert net.patch_embed.proj.kernel_size == (4, 4) and not getattr(net.patch_embed.proj, "binary", False)
    assert isinstance(net.blocks[0].attn, CountedAttention) and isinstance(net.blocks[0].mlp.fc1, TokenSlot)
    cost = complexity.count(net, (3, 32, 32))
    L, C = 65, 192
    assert cost.bops == 12 * L * (3 * C * C + C * C + 8 * C * C)
    assert cost.flops == 64 * C * 48 + 12 * 2 * L * L * C + C * 10


def test_counted_attention_equals_timm_attention():
    torch.manual_seed(0)
    import timm

    ref = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=16, patch_size=4, embed_dim=16,
                            depth=1, num_heads=2, num_classes=4).eval()
    attn = ref.blocks[0].attn
    counted = CountedAttention(attn, attn.qkv, attn.proj).eval()
    x = torch.randn(2, 17, 16)
    with torch.no_grad():
        assert torch.allclose(counted(x), attn(x), atol=1e-5)


def test_es_expands_the_ffn_and_averages_before_attention():
    torch.manual_seed(0)
    net = models.build("vit", block={"name": "es", "tau": 2, "groups": 2}, **SMALL)
    blk = net.blocks[0]
    assert isinstance(blk.attn, ReplicaAttention) and blk.norm2.normalized_shape == (16 * 4,)
    # the attention's convs are the base block's at the base width; the FFN's are shrunk (Eq. 2)
    assert blk.attn.attn.qkv.block.conv.in_channels == 16
    fc1 = blk.mlp.fc1.block.base.conv.conv  # 16*4 -> 64/tau outputs in g = 2 groups
    assert fc1.weight.shape == (64 // 2, 16 * 4 // 2, 1, 1) and fc1.groups == 2
    x = torch.randn(2, 17, 64)
    base = x.view(2, 17, 4, 16).mean(2)
    with torch.no_grad():
        out = blk.attn(x)
        assert torch.allclose(out, blk.attn.attn(blk.attn.norm(base)).repeat(1, 1, 4), atol=1e-6)
    # ES keeps BOPs and FLOPs: FFN MACs unchanged, attention at the base width
    plain = models.build("vit", **SMALL)
    a, b = complexity.count(net, (3, 16, 16)), complexity.count(plain, (3, 16, 16))
    assert a.bops == b.bops and a.flops == b.flops


@pytest.mark.parametrize(("block", "binarizer"), [("plain", b) for b in binarizers.names()]
                         + [({"name": "es", "tau": 2}, b) for b in ("dab", "reactnet", "bnn")])
def test_vit_trains_a_few_steps(block, binarizer):
    torch.manual_seed(0)
    net = models.build("vit", block=block, binarizer=binarizer, **SMALL)
    x, y = torch.randn(8, 3, 16, 16), torch.arange(8) % 4
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(15):  # a random batch: 6 steps left the loss of 2 of 17 binarizers flat
        loss = F.cross_entropy(net(x), y)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert min(losses[1:]) < losses[0], losses
