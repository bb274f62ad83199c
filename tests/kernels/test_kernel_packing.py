"""Bit packing layouts and round trips (torch packing and the fused Triton binarize-and-pack)."""

from __future__ import annotations

import pytest
import torch

from bnnbench.kernels import (
    binarize_pack,
    num_words,
    pack_activations,
    pack_weights,
    unpack_activations,
    unpack_weights,
)


def _sign(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, 1.0, -1.0)


def _with_zeros(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    zeros = torch.rand(x.shape, generator=gen) < 0.2
    x = torch.where(zeros, 0.0, x)
    x.view(-1)[0] = -0.0  # sign(-0.0) = +1 as well
    return x


@pytest.mark.parametrize(
    "channels,groups",
    [(1, 1), (3, 1), (31, 1), (32, 1), (33, 1), (70, 1), (70, 2), (12, 4), (8, 8)],
)
def test_activation_round_trip(channels: int, groups: int) -> None:
    gen = torch.Generator().manual_seed(channels * 10 + groups)
    x = _with_zeros(torch.randn(2, channels, 3, 5, generator=gen), gen)
    packed = pack_activations(x, groups)
    assert packed.dtype == torch.int32
    assert packed.shape == (2, 3, 5, groups * num_words(channels // groups))
    assert torch.equal(unpack_activations(packed, channels, groups), _sign(x))


@pytest.mark.parametrize("cin_g", [1, 3, 31, 33, 70])
def test_weight_round_trip(cin_g: int) -> None:
    gen = torch.Generator().manual_seed(cin_g)
    w = _with_zeros(torch.randn(5, cin_g, 3, 1, generator=gen), gen)
    packed = pack_weights(w)
    assert packed.shape == (5, 3, 1, num_words(cin_g))
    assert torch.equal(unpack_weights(packed, cin_g), _sign(w))


def test_bit_positions_and_padding_bits() -> None:
    # Channel c -> word c // 32, bit c % 32 (LSB first); padding bits 0 even when all are +1.
    x = -torch.ones(1, 33, 1, 1)
    x[0, 0] = 1.0
    x[0, 31] = 0.0
    assert pack_activations(x)[0, 0, 0].tolist() == [1 - 2**31, 0]
    ones = pack_activations(torch.ones(1, 33, 1, 1))[0, 0, 0].tolist()
    assert ones == [-1, 1]  # all 32 bits, then only channel 32 in the last word
    grouped = pack_activations(torch.ones(1, 6, 1, 1), groups=2)[0, 0, 0].tolist()
    assert grouped == [0b111, 0b111]  # each group starts a fresh word
    assert pack_activations(torch.tensor([float("nan")]).view(1, 1, 1, 1)).item() == 0


def test_pack_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="groups=4"):
        pack_activations(torch.zeros(1, 6, 2, 2), groups=4)
    with pytest.raises(ValueError, match="4-D"):
        pack_weights(torch.zeros(3, 3))
    with pytest.raises(ValueError, match="words"):
        unpack_weights(torch.zeros(2, 1, 1, 1, dtype=torch.int32), 33)
    with pytest.raises(ValueError, match="threshold"):
        pack_activations(torch.zeros(2, 6, 2, 2), threshold=torch.zeros(5))


@pytest.mark.parametrize("threshold_kind", [None, "channel", "sample_channel"])
@pytest.mark.parametrize("channels,groups", [(1, 1), (33, 1), (70, 2), (6, 6)])
def test_fused_binarize_pack(
    threshold_kind: str | None,
    channels: int,
    groups: int,
    device: torch.device,
    triton_backend: str,
) -> None:
    gen = torch.Generator().manual_seed(channels + groups)
    n = 2
    x = torch.randn(n, channels, 5, 7, generator=gen)
    shape = {None: None, "channel": (channels,), "sample_channel": (n, channels)}[threshold_kind]
    t = None if shape is None else torch.randn(*shape, generator=gen)
    if t is not None:  # values exactly at the threshold must give +1
        x[:, :, 0, 0] = t.expand(n, channels)
    else:
        x[:, :, 0, 0] = 0.0
    x, t = x.to(device), None if t is None else t.to(device)
    got = binarize_pack(x, t, groups, backend=triton_backend)
    shift = 0.0 if t is None else t.view(n if t.dim() == 2 else 1, channels, 1, 1)
    expected = pack_activations(_sign(x - shift), groups)
    assert torch.equal(got, expected)


def test_fused_binarize_pack_strided_half(device: torch.device, triton_backend: str) -> None:
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(2, 40, 5, 3, generator=gen).half().to(device)
    x = x.to(memory_format=torch.channels_last)
    t = torch.randn(40, generator=gen).to(device)
    got = binarize_pack(x, t, backend=triton_backend)
    assert torch.equal(got, pack_activations(_sign(x.float() - t.view(1, 40, 1, 1))))


def test_fused_binarize_pack_float64_tiny_values(device: torch.device, triton_backend: str) -> None:
    # -1e-50 rounds to -0.0 in fp32; the fp64 comparison must still give bit 0 like torch.
    x = torch.tensor([-1e-50, 1e-50, 0.0, -0.0], dtype=torch.float64).view(1, 4, 1, 1)
    got = binarize_pack(x.to(device), backend=triton_backend)
    assert torch.equal(got.cpu(), pack_activations(x))
    assert got.item() == 0b1110
