"""Top Hessian eigenvalues by Lanczos on Hessian-vector products (BD-Net Fig. 5's quantity)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from bnnbench.analyze.hessian import hvp, top_eigenvalues
from bnnbench.blocks.conv import BinaryConv2d

EIGENVALUES = [9.0, 6.5, 4.0, 2.5, 1.0, 0.5, 0.25, -0.5, -1.0, -2.0]


def spd(values: list[float], seed: int) -> torch.Tensor:
    """Q diag(values) Q^T for a random orthogonal Q."""
    q, _ = torch.linalg.qr(torch.randn(len(values), len(values), generator=torch.Generator().manual_seed(seed),
                                       dtype=torch.float64))
    return q @ torch.diag(torch.tensor(values, dtype=torch.float64)) @ q.T


def test_top_eigenvalues_of_a_quadratic_are_its_spectrum():
    # L(w) = 1/2 w^T A w + c^T w has Hessian A everywhere: its top-k eigenvalues are A's.
    # The parameters are split into a matrix and a vector and the loss into two "batches"
    # whose mean is L, so flattening and the mean over batches are checked too.
    a = spd(EIGENVALUES, seed=0)
    noise = spd([float(i) for i in range(10)], seed=1)
    a1, a2 = a + noise, a - noise  # (a1 + a2) / 2 = a
    w = nn.Parameter(torch.randn(2, 4, dtype=torch.float64))
    u = nn.Parameter(torch.randn(2, dtype=torch.float64))
    c = torch.randn(10, dtype=torch.float64)

    def quadratic(m: torch.Tensor):
        def loss():
            x = torch.cat([w.reshape(-1), u])
            return 0.5 * x @ m @ x + c @ x
        return loss

    calls = []
    got = top_eigenvalues([quadratic(a1), quadratic(a2)], [w, u], k=4, tol=1e-10, on_product=lambda: calls.append(1))
    np.testing.assert_allclose(got, EIGENVALUES[:4], rtol=1e-8)
    assert len(calls) > 0


def test_hvp_of_a_quadratic_is_the_matrix_times_the_vector():
    a = spd(EIGENVALUES, seed=2)
    x = nn.Parameter(torch.randn(10, dtype=torch.float64))
    v = torch.randn(10, dtype=torch.float64)
    (hv,) = hvp(lambda: 0.5 * x @ a @ x, [x], [v])
    torch.testing.assert_close(hv, a @ v)


def test_binary_network_hvp_is_symmetric_through_surrogate_gradients():
    # the Hessian the surrogate gradients define: u^T H v = v^T H u for STE / ApproxSign
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4),
                          BinaryConv2d(4, 4, 3, padding=1, binarizer="reactnet"), nn.BatchNorm2d(4),
                          BinaryConv2d(4, 4, 3, padding=1, binarizer="bnn")).eval()
    x, y = torch.randn(4, 2, 8, 8), torch.randn(4, 4, 8, 8)
    params = list(model.parameters())
    u, v = [torch.randn_like(p) for p in params], [torch.randn_like(p) for p in params]

    def loss():
        return ((model(x) - y) ** 2).mean()

    uhv = sum((a * b).sum() for a, b in zip(u, hvp(loss, params, v)))
    vhu = sum((a * b).sum() for a, b in zip(v, hvp(loss, params, u)))
    assert abs(float(uhv)) > 1e-3
    assert float(uhv) == pytest.approx(float(vhu), rel=1e-4)


def test_top_k_must_be_below_the_parameter_count():
    x = nn.Parameter(torch.randn(3))
    with pytest.raises(ValueError, match="top_k must lie in"):
        top_eigenvalues([lambda: (x ** 2).sum()], [x], k=3)
