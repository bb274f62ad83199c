"""The SWAR popcount helper on edge words (bit 31 set, all ones, zero)."""

from __future__ import annotations

import pytest
import torch

triton = pytest.importorskip("triton")
tl = pytest.importorskip("triton.language")

from bnnbench.kernels.triton_conv import popcount32  # noqa: E402


@triton.jit
def _popcount_kernel(x_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, popcount32(tl.load(x_ptr + offs)))


def test_popcount_helper(device: torch.device, triton_backend: str) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(-(2**31), 2**31 - 1, (64,), generator=gen, dtype=torch.int32)
    x[:4] = torch.tensor([0, -1, -(2**31), 2**31 - 1], dtype=torch.int32)
    out = torch.empty_like(x, device=device)
    _popcount_kernel[(1,)](x.to(device), out, BLOCK=64)
    expected = [bin(v & 0xFFFFFFFF).count("1") for v in x.tolist()]
    assert out.cpu().tolist() == expected
