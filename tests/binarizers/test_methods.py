"""Each activation and weight binarizer against a hand computation of its paper's formula (docs/methods.md)."""

import math

import pytest
import torch

import bnnbench.binarizers as B
from bnnbench.binarizers.weights import WEIGHT_BINARIZERS, build_weight


def x_2x2() -> torch.Tensor:
    """One sample, two channels, 2x2: channel 0 = [1, 2, 3, -2], channel 1 = [0, -1, 0.5, 0.5]."""
    return torch.tensor([[[[1.0, 2.0], [3.0, -2.0]], [[0.0, -1.0], [0.5, 0.5]]]])


def test_bnn_forward_and_gradient():
    x = x_2x2().requires_grad_(True)
    y = B.build("bnn", 2)(x)
    assert y.flatten().tolist() == [1, 1, 1, -1, 1, -1, 1, 1]
    y.sum().backward()  # ClipSTE: 1 where |x| <= 1
    assert x.grad.flatten().tolist() == [1, 0, 0, 0, 1, 1, 1, 1]


def test_reactnet_rsign():
    # ReActNet Eq. 1: sign(x - beta_c), ApproxSign backward
    m = B.build("reactnet", 2)
    with torch.no_grad():
        m.beta[0, :, 0, 0] = torch.tensor([1.5, 0.0])
    x = x_2x2().requires_grad_(True)
    y = m(x)
    assert y.flatten().tolist() == [-1, 1, 1, -1, 1, -1, 1, 1]
    y.sum().backward()
    # x - beta = [-0.5, 0.5, 1.5, -3.5, 0, -1, 0.5, 0.5]; grad 2 - 2|v| inside |v| < 1
    assert torch.allclose(x.grad.flatten(), torch.tensor([1.0, 1.0, 0, 0, 2.0, 0, 1.0, 1.0]))
    assert torch.allclose(m.beta.grad.flatten(), -torch.tensor([2.0, 4.0]))


@pytest.mark.parametrize("center", ["code", "paper"])
def test_adabin_activation(center):
    # AdaBin: code form alpha (sign((x-beta)/alpha) + beta); paper form beta +- alpha
    m = B.build("adabin", 2, center=center)
    with torch.no_grad():
        m.alpha.fill_(2.0)
        m.beta.fill_(0.5)
    y = m(x_2x2())
    s = torch.tensor([1.0, 1, 1, -1, -1, -1, 1, 1])  # sign(x - 0.5)
    expected = 2.0 * (s + 0.5) if center == "code" else 2.0 * s + 0.5
    assert torch.allclose(y.flatten(), expected)
    with pytest.raises(ValueError, match="center"):
        B.build("adabin", 2, center="middle")


def test_bisrnet_redistribution():
    # BiSRNet: sign(x * k_c + b_c) with SBA
    m = B.build("bisrnet", 2)
    with torch.no_grad():
        m.k[0, :, 0, 0] = torch.tensor([-1.0, 2.0])
        m.b[0, :, 0, 0] = torch.tensor([0.0, 1.5])
    y = m(x_2x2())
    # ch0: -x = [-1,-2,-3,2]; ch1: 2x + 1.5 = [1.5, -0.5, 2.5, 2.5]
    assert y.flatten().tolist() == [-1, -1, -1, 1, 1, -1, 1, 1]


def test_dab_forward_matches_equations():
    # BiDense Eqs. 5, 8-10 with k, b, a set by hand
    m = B.build("dab", 2)
    k, b, a = torch.tensor([0.5, 1.0]), torch.tensor([0.25, -0.5]), torch.tensor([0.3, -0.2])
    with torch.no_grad():
        m.k.copy_(k.view(1, 2, 1, 1))
        m.b.copy_(b.view(1, 2, 1, 1))
        m.a.copy_(a.view(1, 2, 1, 1))
    x = x_2x2()
    y = m(x)
    # channel 0: mean = 1, beta = 0.5*1 + 0.25 = 0.75, x_s = [0.25, 1.25, 2.25, -2.75]
    # mean|x_s| = 6.5/4 = 1.625, alpha = exp(0.3 * 0.625)
    a0 = math.exp(0.3 * 0.625)
    # channel 1: mean = 0, beta = -0.5, x_s = [0.5, -0.5, 1.0, 1.0], mean|x_s| = 0.75
    a1 = math.exp(-0.2 * -0.25)
    expected = torch.tensor([a0, a0, a0, -a0, a1, -a1, a1, a1])
    assert torch.allclose(y.flatten(), expected, atol=1e-6)


def test_dab_fused_function_equals_composed_autograd():
    # the fused Function must give the same forward and gradients as autograd through Eqs. 5-10
    torch.manual_seed(0)
    m = B.build("dab", 3)
    with torch.no_grad():
        m.k.normal_(0, 0.5)
        m.b.normal_(0, 0.5)
        m.a.normal_(0, 0.5)
    x = torch.randn(2, 3, 4, 5, requires_grad=True)
    g = torch.randn(2, 3, 4, 5)
    (m(x) * g).sum().backward()
    fused = [t.grad.clone() for t in (x, m.k, m.b, m.a)]
    for t in (x, m.k, m.b, m.a):
        t.grad = None
    from bnnbench.binarizers.ste import approx_sign

    mu = x.detach().mean((2, 3), keepdim=True)
    xs = x - (m.k * mu + m.b)
    alpha = torch.exp(m.a * (xs.detach().abs().mean((2, 3), keepdim=True) - 1))
    (alpha * approx_sign(xs) * g).sum().backward()
    composed = [x.grad, m.k.grad, m.b.grad, m.a.grad]
    for f, c in zip(fused, composed):
        assert torch.allclose(f, c, atol=1e-5)


@pytest.mark.parametrize(
    "threshold,scale,params",
    [
        ("adaptive", "adaptive", {"k", "b", "a"}),
        ("none", "adaptive", {"a"}),
        ("learnable", "adaptive", {"b", "a"}),
        ("mean_only", "adaptive", {"k", "a"}),
        ("adaptive", "none", {"k", "b"}),
        ("adaptive", "mad", {"k", "b"}),
        ("adaptive", "learnable", {"k", "b", "alpha"}),
    ],
)
def test_dab_ablation_switches(threshold, scale, params):
    # BiDense Table 4 rows 3-8: which parameters exist, and the forward of each variant
    m = B.build("dab", 2, threshold=threshold, scale=scale)
    assert {n for n, _ in m.named_parameters()} == params
    x = x_2x2()
    y = m(x)
    beta = {"adaptive": 0.0 * 1 + 0.0, "none": 0.0, "learnable": 0.0, "mean_only": 0.0}[threshold]
    if threshold in ("adaptive", "mean_only"):
        beta = m.k.detach()[0, :, 0, 0] * x.mean((2, 3))[0] + (m.b.detach()[0, :, 0, 0] if threshold == "adaptive" else 0)
    xs = x - torch.as_tensor(beta).view(1, -1, 1, 1)
    s = torch.where(xs >= 0, 1.0, -1.0)
    if scale == "mad":
        s = s * xs.abs().mean((2, 3), keepdim=True)  # Table 4 row 7: alpha = ||x_s||_1 / n
    elif scale == "adaptive":
        s = s * torch.exp(m.a.detach() * (xs.abs().mean((2, 3), keepdim=True) - 1))
    assert torch.allclose(y, s, atol=1e-6)


def test_dab_rejects_unknown_switch():
    with pytest.raises(ValueError, match="adaptive"):
        B.build("dab", 2, threshold="median")


def test_weight_binarizers():
    w = torch.tensor([[[[0.5, -1.5]], [[2.0, 0.0]]], [[[-0.2, -0.2]], [[0.2, 0.6]]]])  # (2, 2, 1, 2)
    assert torch.equal(build_weight("sign")(w), torch.where(w >= 0, 1.0, -1.0))
    # meanabs: alpha_w = mean|W| per output channel = [1.0, 0.3]
    y = build_weight("meanabs")(w)
    assert torch.allclose(y[0], torch.where(w[0] >= 0, 1.0, -1.0) * 1.0)
    assert torch.allclose(y[1], torch.where(w[1] >= 0, 1.0, -1.0) * 0.3)
    # adabin: beta_w = mean, alpha_w = std (population) per output channel
    y = build_weight("adabin")(w)
    for o in range(2):
        beta = w[o].mean()
        alpha = ((w[o] - beta) ** 2).mean().sqrt()
        assert torch.allclose(y[o], alpha * torch.where(w[o] - beta >= 0, 1.0, -1.0) + beta, atol=1e-6)
    assert torch.equal(build_weight("identity")(w), w)
    assert {"adabin", "identity", "meanabs", "meanabs_scaled", "sign"} <= set(WEIGHT_BINARIZERS.names())


def test_adabin_weight_statistics_take_gradient_and_ede_anneals():
    wb = build_weight("adabin")
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    wb.set_epoch(0, 10)
    wb(w).sum().backward()
    g0 = w.grad.clone()
    w.grad = None
    wb.set_epoch(10, 10)
    wb(w).sum().backward()
    assert not torch.allclose(g0, w.grad)  # EDE t changes the surrogate


def test_grouped_weight_statistics_use_fan_in_of_the_group():
    # per output channel over (C_in/g, k, k): a depth-wise weight has 9 elements per channel
    w = torch.arange(18.0).view(2, 1, 3, 3) - 4.0
    y = build_weight("meanabs")(w)
    assert torch.allclose(y[0].abs().unique(), w[0].abs().mean().view(1))


def test_spec_rejects_unknown_names_before_work():
    with pytest.raises(KeyError, match="did you mean 'dab'"):
        B.build("dabb", 2)
    with pytest.raises(KeyError, match="weight binarizer"):
        B.BinarizerSpec("dab", weight="meanab")
    with pytest.raises(ValueError, match="does not take"):
        B.BinarizerSpec.of({"name": "bnn", "threshold": "none"})


@pytest.mark.parametrize(
    "name,expected", [("sign", 1.0), ("meanabs", 1.0), ("meanabs_scaled", 0.5)]
)
def test_weight_binarizer_gradient_clip_ste(name, expected):
    # ReActNet / BiDense code: out = (alpha sign W).detach() - clamp(W).detach() + clamp(W), so
    # dL/dW = dL/dW_b 1_{|W| <= 1} unscaled; meanabs_scaled multiplies by alpha (XNOR-style)
    w = torch.tensor([[[[0.25, -0.75]], [[1.5, 0.0]]]], requires_grad=True)  # mean|W| = 2.5/4
    w2 = (w.detach() * 0.8).requires_grad_(True)  # mean|W| = 0.5, |W| = [0.2, 0.6, 1.2, 0]
    build_weight(name)(w2).sum().backward()
    assert w2.grad.flatten().tolist() == [expected, expected, 0.0, expected]


def test_meanabs_gradient_equals_authors_detach_expression():
    # the authors' expression through autograd, with a random upstream gradient
    torch.manual_seed(0)
    w = (torch.randn(3, 2, 3, 3) * 0.8).requires_grad_(True)
    g = torch.randn(3, 2, 3, 3)
    (build_weight("meanabs")(w) * g).sum().backward()
    ours = w.grad.clone()
    w.grad = None
    alpha = w.abs().mean((1, 2, 3), keepdim=True).detach()
    clipped = w.clamp(-1, 1)
    ref = (alpha * torch.where(w >= 0, 1.0, -1.0)).detach() - clipped.detach() + clipped
    (ref * g).sum().backward()
    assert torch.equal(ours, w.grad)
