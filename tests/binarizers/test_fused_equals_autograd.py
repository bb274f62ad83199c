"""The one-Function weight and activation binarizers (which save W or x only, issue: training
memory) equal autograd through the papers' composed expressions, forward and every gradient."""

import math

import pytest
import torch

import bnnbench.binarizers as B
from bnnbench.binarizers.ste import approx_sign, ede, identity_sign, training_aware
from bnnbench.binarizers.weights import build_weight, standardize

SHAPES = [(6, 4, 3, 3), (5, 2, 1, 1)]


def _pair(shape, seed=0):
    torch.manual_seed(seed)
    w1 = (torch.randn(shape) * 0.3).requires_grad_()
    return w1, w1.detach().clone().requires_grad_(), torch.randn(shape)


def _check(out1, out2, g, pairs):
    assert torch.allclose(out1, out2, atol=1e-6)
    (out1 * g).sum().backward()
    (out2 * g).sum().backward()
    for a, b in pairs:
        assert torch.allclose(a.grad, b.grad, atol=1e-5, rtol=1e-4), (a.grad - b.grad).abs().max()


@pytest.mark.parametrize("shape", SHAPES)
def test_adabin_weight(shape):
    # AdaBin Eq. 3-4: alpha_w sign((W - beta_w)/alpha_w) + beta_w, beta_w = mean, alpha_w = std (biased),
    # statistics taking gradient, EDE on the sign
    wb = build_weight("adabin")
    wb.set_epoch(2, 5)
    w1, w2, g = _pair(shape)
    beta = w2.mean((1, 2, 3), keepdim=True)
    alpha = (w2 - beta).pow(2).mean((1, 2, 3), keepdim=True).sqrt()
    _check(wb(w1), alpha * ede((w2 - beta) / alpha, wb.t, wb.k) + beta, g, [(w1, w2)])


@pytest.mark.parametrize("center", ["code", "paper"])
def test_adabin_activation(center):
    # AdaBin Eq. 6 (paper) / the official code's alpha (sign((x - beta)/alpha) + beta), ApproxSign
    torch.manual_seed(1)
    m1, m2 = B.build("adabin", 3, center=center), B.build("adabin", 3, center=center)
    with torch.no_grad():
        for m in (m1, m2):
            m.alpha.fill_(0.7)
            m.beta.fill_(0.2)
    x1 = torch.randn(2, 3, 4, 4).requires_grad_()
    x2 = x1.detach().clone().requires_grad_()
    g = torch.randn(2, 3, 4, 4)
    ref = m2.levels(approx_sign((x2 - m2.beta) / m2.alpha))
    _check(m1(x1), ref, g, [(x1, x2), (m1.alpha, m2.alpha), (m1.beta, m2.beta)])


@pytest.mark.parametrize("shape", SHAPES)
def test_recu_weight_alpha_and_w(shape):
    # ReCU: alpha sign(clamp(W1, -Q, Q)), identity through the sign, W1 = 2 sqrt 2 standardize(W, 1e-5)
    w1, w2, g = _pair(shape)
    wb1, wb2 = build_weight("recu"), build_weight("recu")
    wb1.bind(w1)
    wb2.bind(w2)
    with torch.no_grad():
        wb2.alpha.copy_(wb1.alpha)
    z = standardize(w2, 1e-5) * 2 * math.sqrt(2)
    q = float(-z.detach().abs().mean() * math.log(2 - 2 * wb2.tau))
    _check(wb1(w1), wb2.alpha * identity_sign(z.clamp(-q, q)), g, [(w1, w2), (wb1.alpha, wb2.alpha)])


@pytest.mark.parametrize("shape", SHAPES)
def test_siman_weight_alpha_and_w(shape):
    # SiMaN: alpha (|W_std| - |W_std|.detach() + 2B - 1)
    w1, w2, g = _pair(shape)
    wb1, wb2 = build_weight("siman"), build_weight("siman")
    wb1.bind(w1)
    wb2.bind(w2)
    with torch.no_grad():
        wb2.alpha.copy_(wb1.alpha)
    out1 = wb1(w1)  # training: the latent weights are first centred and clipped in place
    wb2.clip_(w2)
    assert torch.equal(w1, w2)
    mag = standardize(w2, 1e-5).abs()
    levels = torch.where(wb1.code, 1.0, -1.0)
    _check(out1, wb2.alpha * (mag - mag.detach() + levels), g, [(w1, w2), (wb1.alpha, wb2.alpha)])


@pytest.mark.parametrize("shape", [(6, 4, 3, 3), (4, 3, 2, 2)])
def test_rbnn_weight_alpha_theta_and_w(shape):
    # RBNN Eq. 6-8 and 14: alpha ta(W_std + |sin theta| (R1^T X R2 - W_std)), rotation detached
    w1, w2, g = _pair(shape)
    wb1, wb2 = build_weight("rbnn"), build_weight("rbnn")
    wb1.bind(w1)
    wb2.bind(w2)
    wb1.set_epoch(1, 4)
    wb2.set_epoch(1, 4)
    with torch.no_grad():
        wb2.alpha.copy_(wb1.alpha)
        wb2.theta.copy_(wb1.theta)
        wb2.theta[0] = wb1.theta[0] = -0.3  # a negative angle: d|sin theta|/dtheta changes sign
    out1 = wb1(w1)  # training: re-fits R1, R2 first
    wb2.r1.copy_(wb1.r1)
    wb2.r2.copy_(wb1.r2)
    u = standardize(w2)
    x = u.detach().reshape(shape[0], wb2.a, wb2.b)
    rotated = (wb2.r1.T @ x @ wb2.r2).reshape(shape)
    w3 = u + wb2.theta.sin().abs() * (rotated - u)
    ref = wb2.alpha * training_aware(w3, wb2.t, wb2.k)
    _check(out1, ref, g, [(w1, w2), (wb1.alpha, wb2.alpha), (wb1.theta, wb2.theta)])


def test_reste_weight_with_zeros():
    # ReSTE code: ReSTE(W) * mean|W|; at W = 0 autograd's |W| derivative is 0
    w1 = torch.tensor([0.5, 0.0, -1.0, 2.0, -0.05]).view(1, 1, 1, 5).requires_grad_()
    w2 = w1.detach().clone().requires_grad_()
    wb = build_weight("reste")
    wb.set_epoch(3, 10)
    from bnnbench.binarizers.ste import reste

    _check(wb(w1), reste(w2, 1.5, wb.o) * w2.abs().mean(), torch.tensor([1.0, 2, 3, 4, 5]).view(1, 1, 1, 5),
           [(w1, w2)])
