"""The packed conv equals F.conv2d on sign tensors exactly (zero padding), for both inner loops."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from bnnbench.kernels import binary_conv2d, pack_activations, pack_weights, packed_conv2d

# (N, C_in, C_out, H, W, k, stride, padding, groups)
HAND_CASES = [
    (2, 1, 3, 7, 9, 3, 1, 1, 1),
    (2, 3, 5, 7, 9, 3, 2, 1, 1),
    (1, 31, 8, 7, 9, 5, 1, 3, 1),
    (2, 33, 17, 7, 9, 3, 2, 0, 1),
    (1, 70, 40, 7, 9, 1, 1, 3, 1),  # 1x1 with padding 3: a border of all-invalid taps
    (1, 12, 12, 7, 9, 3, 1, 1, 12),  # depth-wise
    (1, 6, 6, 9, 7, 5, 2, 3, 6),  # depth-wise 5x5, stride 2
    (2, 64, 32, 7, 9, 3, 1, 1, 2),
    (1, 12, 20, 7, 9, 3, 2, 1, 4),
    (2, 70, 6, 7, 9, 3, 1, 0, 2),
    (1, 8, 16, 7, 9, 3, 1, 1, 8),  # depth multiplier 2
    (1, 3, 4, 9, 9, 7, 2, 3, 1),  # 7x7 stem-like
]


def _random_cases(count: int, seed: int = 0) -> list[tuple[int, ...]]:
    rng = random.Random(seed)
    cases = []
    while len(cases) < count:
        groups = rng.choice([1, 1, 2, 4, "dw"])
        cin_g = rng.choice([1, 3, 31, 33, 17]) if groups != "dw" else 1
        g = rng.choice([3, 5]) if groups == "dw" else groups
        cin = cin_g * g
        cout = g * (1 if groups == "dw" else rng.choice([1, 5, 9]))
        k = rng.choice([1, 3, 5])
        h, w = rng.choice([(7, 9), (5, 5), (9, 7)])
        pad = rng.choice([0, 1, 3])
        if h + 2 * pad < k or w + 2 * pad < k or cin > 70:
            continue
        cases.append((rng.choice([1, 2]), cin, cout, h, w, k, rng.choice([1, 2]), pad, g))
    return cases


# Wide depth-wise convs take ~15 s each in the interpreter (one program per group and tap).
SLOW_CASES = [(2, 70, 70, 7, 9, 3, 1, 1, 70), (1, 33, 33, 9, 7, 5, 2, 3, 33)]
CASES = (
    HAND_CASES + _random_cases(6) + [pytest.param(c, marks=pytest.mark.slow) for c in SLOW_CASES]
)


def _sign(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, 1.0, -1.0)


def _data(case: tuple[int, ...], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    n, cin, cout, h, w, k, _, _, groups = case
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, cin, h, w, generator=gen)
    x = torch.where(torch.rand(x.shape, generator=gen) < 0.15, 0.0, x)  # sign(0) = +1
    wt = torch.randn(cout, cin // groups, k, k, generator=gen)
    wt = torch.where(torch.rand(wt.shape, generator=gen) < 0.15, 0.0, wt)
    return x, wt


def _oracle(x: torch.Tensor, wt: torch.Tensor, stride: int, pad: int, groups: int) -> torch.Tensor:
    y = F.conv2d(_sign(x).double(), _sign(wt).double(), None, stride, pad, 1, groups)
    return y.to(torch.int32)


@pytest.mark.parametrize("impl", ["xor", "dot"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "n{}c{}o{}h{}w{}k{}s{}p{}g{}".format(*c))
def test_packed_conv_exact(
    case: tuple[int, ...], impl: str, device: torch.device, triton_backend: str
) -> None:
    x, wt = _data(case, seed=sum((i + 1) * v for i, v in enumerate(case)))
    stride, pad, groups = case[6], case[7], case[8]
    expected = _oracle(x, wt, stride, pad, groups)
    x, wt = x.to(device), wt.to(device)
    got = binary_conv2d(
        x, wt, stride, pad, groups, out_dtype=torch.int32, impl=impl, backend=triton_backend
    )
    assert torch.equal(got.cpu(), expected)


def test_reference_backend_and_auto_impl(device: torch.device, triton_backend: str) -> None:
    case = (2, 40, 24, 7, 9, 3, 2, 1, 1)
    x, wt = _data(case, seed=3)
    expected = _oracle(x, wt, 2, 1, 1)
    x, wt = x.to(device), wt.to(device)
    ref = binary_conv2d(x, wt, 2, 1, out_dtype=torch.int32, backend="reference")
    auto = binary_conv2d(x, wt, 2, 1, backend=triton_backend)  # default out_dtype: x's, fp32
    assert torch.equal(ref.cpu(), expected)
    assert auto.dtype == torch.float32
    assert torch.equal(auto.cpu(), expected.float())


@pytest.mark.parametrize("impl", ["xor", "dot"])
def test_rectangular_args_and_channels_last(
    impl: str, device: torch.device, triton_backend: str
) -> None:
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(2, 35, 7, 9, generator=gen)
    wt = torch.randn(18, 35, 3, 3, generator=gen)
    expected = F.conv2d(_sign(x).double(), _sign(wt).double(), None, (2, 1), (0, 2)).float()
    x = x.to(device).to(memory_format=torch.channels_last)
    got = binary_conv2d(x, wt.to(device), (2, 1), (0, 2), impl=impl, backend=triton_backend)
    assert torch.equal(got.cpu(), expected)


def test_packed_entry_point_matches(device: torch.device, triton_backend: str) -> None:
    x, wt = _data((1, 33, 9, 7, 9, 3, 1, 1, 1), seed=5)
    expected = _oracle(x, wt, 1, 1, 1)
    xp, wp = pack_activations(x.to(device)), pack_weights(wt.to(device))
    got = packed_conv2d(xp, wp, 33, 1, 1, out_dtype=torch.int32, backend=triton_backend)
    assert torch.equal(got.cpu(), expected)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"groups": 4}, "groups=4"),
        ({"weight": torch.zeros(4, 5, 3, 3)}, "input channels per group"),
        ({"weight": torch.zeros(4, 6, 3)}, "4-D"),
        ({"impl": "fast"}, "impl='fast'"),
        ({"backend": "gpu"}, "backend='gpu'"),
        ({"stride": 0}, "stride=0"),
        ({"padding": -1}, "padding=-1"),
        ({"weight": torch.zeros(4, 6, 9, 9)}, "does not fit"),
        ({"scale": torch.ones(3)}, r"scale has shape \(3,\)"),
        ({"sample_scale": torch.ones(3, 4)}, "sample_scale"),
        ({"residual": torch.ones(2, 4, 7, 7)}, "residual"),
        ({"out_dtype": torch.float64}, "out_dtype"),
        ({"out_dtype": torch.int32, "bias": torch.ones(4)}, "raw count"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, match: str) -> None:
    args = {"weight": torch.zeros(4, 6, 3, 3), "groups": 1}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        binary_conv2d(torch.zeros(2, 6, 7, 7), **args)


def test_packed_conv_rejects_mismatched_words() -> None:
    xp = torch.zeros(1, 5, 5, 1, dtype=torch.int32)
    wp = torch.zeros(4, 3, 3, 2, dtype=torch.int32)
    with pytest.raises(ValueError, match="packed shapes"):
        packed_conv2d(xp, wp, 33)
    with pytest.raises(ValueError, match="int32"):
        packed_conv2d(xp.float(), wp, 33)


def test_large_kernel_falls_back_under_auto(device: torch.device, triton_backend: str) -> None:
    # Kernel sides > 32 are beyond the Triton path: "auto" uses the reference, "triton" refuses.
    x, wt = _data((1, 2, 3, 34, 35, 33, 1, 0, 1), seed=9)
    expected = _oracle(x, wt, 1, 0, 1)
    got = binary_conv2d(x.to(device), wt.to(device), out_dtype=torch.int32)
    assert torch.equal(got.cpu(), expected)
    with pytest.raises(ValueError, match="beyond the Triton path"):
        binary_conv2d(x.to(device), wt.to(device), backend=triton_backend)


@pytest.mark.parametrize("impl", ["xor", "dot"])
def test_padding_bits_never_count(impl: str, device: torch.device, triton_backend: str) -> None:
    # Set padding bits, differently in the two operands: results must not change.
    x, wt = _data((2, 35, 6, 7, 9, 3, 1, 1, 1), seed=12)
    expected = _oracle(x, wt, 1, 1, 1)
    xp, wp = pack_activations(x), pack_weights(wt)
    pad_bits = -(2**3)  # channels 35..63 are bits 3..31 of the second word
    xp[..., 1] |= pad_bits
    wp[..., 1] |= 0x55555550
    got = packed_conv2d(
        xp.to(device),
        wp.to(device),
        35,
        1,
        1,
        out_dtype=torch.int32,
        impl=impl,
        backend=triton_backend,
    )
    assert torch.equal(got.cpu(), expected)
