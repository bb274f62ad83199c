"""Fused epilogue: y = conv * scale[c] * sample_scale[n(, c)] + bias[c] + residual, cast at the end.

Oracle: the same formula in float64 on F.conv2d of sign tensors, cast to the output dtype. The
kernel computes in fp32, so the tolerance is a couple of units in the last place of the output
dtype: rtol 2**-9 (fp16), 2**-6 (bf16), 1e-5 (fp32), plus a tiny atol for values near 0.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bnnbench.kernels import binary_conv2d

TOL = {
    torch.float16: dict(rtol=2**-9, atol=1e-3),
    torch.bfloat16: dict(rtol=2**-6, atol=1e-2),
    torch.float32: dict(rtol=1e-5, atol=1e-5),
}


def _sign(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, 1.0, -1.0)


@pytest.mark.parametrize("impl", ["xor", "dot"])
@pytest.mark.parametrize(
    "out_dtype,per_channel_sample_scale",
    [
        (torch.float16, False),
        (torch.bfloat16, True),
        (torch.float32, False),
        (torch.float32, True),
    ],
)
def test_epilogue_matches_float(
    impl: str,
    out_dtype: torch.dtype,
    per_channel_sample_scale: bool,
    device: torch.device,
    triton_backend: str,
) -> None:
    gen = torch.Generator().manual_seed(int(per_channel_sample_scale))
    n, cin, cout, groups = 2, 36, 18, 2
    x = torch.randn(n, cin, 7, 9, generator=gen)
    w = torch.randn(cout, cin // groups, 3, 3, generator=gen)
    scale = torch.rand(cout, generator=gen) + 0.1
    bias = torch.randn(cout, generator=gen)
    ss_shape = (n, cout) if per_channel_sample_scale else (n,)
    sample_scale = torch.rand(ss_shape, generator=gen) + 0.5
    residual = torch.randn(n, cout, 4, 5, generator=gen)

    conv = F.conv2d(_sign(x).double(), _sign(w).double(), None, 2, 1, 1, groups)
    ss = sample_scale.double().view(n, -1, 1, 1)
    expected = conv * scale.double().view(1, -1, 1, 1) * ss + bias.double().view(1, -1, 1, 1)
    expected = (expected + residual.double()).to(out_dtype)

    to = {"device": device}
    got = binary_conv2d(
        x.to(**to),
        w.to(**to),
        2,
        1,
        groups,
        scale=scale.to(**to),
        bias=bias.to(**to),
        sample_scale=sample_scale.to(**to),
        residual=residual.to(out_dtype).to(**to),
        out_dtype=out_dtype,
        impl=impl,
        backend=triton_backend,
    )
    assert got.dtype == out_dtype and got.shape == expected.shape
    torch.testing.assert_close(got.cpu().double(), expected.double(), **TOL[out_dtype])


@pytest.mark.parametrize("which", ["scale", "bias", "sample_scale", "residual"])
def test_each_epilogue_term_alone(which: str, device: torch.device, triton_backend: str) -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 5, 6, 6, generator=gen)
    w = torch.randn(4, 5, 3, 3, generator=gen)
    conv = F.conv2d(_sign(x), _sign(w), None, 1, 1)
    term = {
        "scale": torch.rand(4, generator=gen),
        "bias": torch.randn(4, generator=gen),
        "sample_scale": torch.rand(2, generator=gen),
        "residual": torch.randn(2, 4, 6, 6, generator=gen),
    }[which]
    expected = {
        "scale": lambda: conv * term.view(1, -1, 1, 1),
        "bias": lambda: conv + term.view(1, -1, 1, 1),
        "sample_scale": lambda: conv * term.view(-1, 1, 1, 1),
        "residual": lambda: conv + term,
    }[which]()
    got = binary_conv2d(
        x.to(device), w.to(device), 1, 1, **{which: term.to(device)}, backend=triton_backend
    )
    torch.testing.assert_close(got.cpu(), expected, **TOL[torch.float32])


def test_half_input_defaults_to_half_output(device: torch.device, triton_backend: str) -> None:
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(1, 40, 5, 5, generator=gen)
    w = torch.randn(8, 40, 3, 3, generator=gen)
    expected = F.conv2d(_sign(x), _sign(w), None, 1, 1).half()  # integers < 2048: exact in fp16
    got = binary_conv2d(x.half().to(device), w.to(device), 1, 1, backend=triton_backend)
    assert got.dtype == torch.float16
    assert torch.equal(got.cpu(), expected)
