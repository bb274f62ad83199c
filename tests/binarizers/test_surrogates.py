"""Surrogate gradients of sign against their closed forms (docs/methods.md "Conventions")."""

import math

import torch

from bnnbench.binarizers.ste import approx_sign, clip_ste, ede, ede_schedule, sba, sign

V = torch.tensor([-1.5, -1.0, -0.5, 0.0, 0.25, 1.0, 2.0])


def grad_of(fn, v: torch.Tensor) -> torch.Tensor:
    v = v.clone().requires_grad_(True)
    fn(v).sum().backward()
    return v.grad


def test_sign_maps_zero_to_plus_one():
    # BiDense Eq. 1: sign(v) = +1 for v >= 0; torch.sign would give 0
    assert sign(V).tolist() == [-1, -1, -1, 1, 1, 1, 1]


def test_clip_ste_gradient():
    # Hubara et al. 2016: d/dv = 1_{|v| <= 1}
    assert grad_of(clip_ste, V).tolist() == [0, 1, 1, 1, 1, 1, 0]


def test_approx_sign_gradient():
    # Bi-Real Eq. 5: 2 + 2v on [-1, 0), 2 - 2v on [0, 1), 0 elsewhere
    expected = [0.0, 0.0, 1.0, 2.0, 1.5, 0.0, 0.0]
    assert torch.allclose(grad_of(approx_sign, V), torch.tensor(expected))
    assert approx_sign(V).tolist() == sign(V).tolist()


def test_sba_gradient_and_beta_gradient():
    # BiSRNet SBA: d/dv = beta (1 - tanh^2(beta v)); d/dbeta of tanh(beta v) = v (1 - tanh^2(beta v))
    beta = torch.tensor(2.0, requires_grad=True)
    v = torch.tensor([0.5, -0.25], requires_grad=True)
    sba(v, beta).sum().backward()
    for i, vi in enumerate([0.5, -0.25]):
        assert math.isclose(v.grad[i].item(), 2.0 * (1 - math.tanh(2.0 * vi) ** 2), rel_tol=1e-6)
    expected_beta = sum(vi * (1 - math.tanh(2.0 * vi) ** 2) for vi in [0.5, -0.25])
    assert math.isclose(beta.grad.item(), expected_beta, rel_tol=1e-6)


def test_ede_schedule_and_gradient():
    # IR-Net EDE: t = 10^(-3 + 4 e / E), k = max(1/t, 1); d/dv = k t (1 - tanh^2(t v))
    assert ede_schedule(0, 10) == (1e-3, 1e3)
    t, k = ede_schedule(10, 10)
    assert math.isclose(t, 10.0) and k == 1.0
    t, k = ede_schedule(5, 10)  # t = 10^(-3 + 2) = 0.1, k = 1/t = 10
    assert math.isclose(t, 0.1) and math.isclose(k, 10.0)
    t, k = 3.0, 1.0
    g = grad_of(lambda v: ede(v, t, k), torch.tensor([0.2]))
    assert math.isclose(g.item(), 3.0 * (1 - math.tanh(0.6) ** 2), rel_tol=1e-6)
