"""PackedBinaryConv2d and the import / CPU dispatch contract of bnnbench.kernels."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from bnnbench.kernels import PackedBinaryConv2d, binary_conv2d

REPO = Path(__file__).resolve().parents[2]


def _sign(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, 1.0, -1.0)


def test_layer_matches_float_layer(device: torch.device, triton_backend: str) -> None:
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(16, 33, 3, 3, generator=gen)
    scale, bias = torch.rand(16, generator=gen), torch.randn(16, generator=gen)
    beta = torch.randn(33, generator=gen) * 0.1
    x = torch.randn(2, 33, 7, 9, generator=gen)
    layer = PackedBinaryConv2d.from_float(
        w, 1, 1, scale=scale, bias=bias, threshold=beta, backend=triton_backend
    ).to(device)
    expected = F.conv2d(_sign(x - beta.view(1, -1, 1, 1)), _sign(w), None, 1, 1)
    expected = expected * scale.view(1, -1, 1, 1) + bias.view(1, -1, 1, 1)
    torch.testing.assert_close(layer(x.to(device)).cpu(), expected, rtol=1e-5, atol=1e-5)

    # A runtime per-sample threshold (DAB-style) overrides the stored one.
    t = torch.randn(2, 33, generator=gen)
    expected = F.conv2d(_sign(x - t.view(2, -1, 1, 1)), _sign(w), None, 1, 1)
    expected = expected * scale.view(1, -1, 1, 1) + bias.view(1, -1, 1, 1)
    got = layer(x.to(device), threshold=t.to(device))
    torch.testing.assert_close(got.cpu(), expected, rtol=1e-5, atol=1e-5)


def test_layer_weight_bytes_and_state_dict() -> None:
    w = torch.randn(64, 64, 3, 3)
    layer = PackedBinaryConv2d.from_float(w, 1, 1)
    assert layer.weight_bytes() * 32 == w.numel() * 4  # 64 channels fill words exactly
    clone = PackedBinaryConv2d(torch.zeros_like(layer.weight_packed), 64, 1, 1)
    clone.load_state_dict(layer.state_dict())
    x = torch.randn(1, 64, 5, 5)
    assert torch.equal(clone(x), binary_conv2d(x, w, 1, 1, backend="reference"))


def test_import_is_light_and_cpu_falls_back_to_reference() -> None:
    # Without the interpreter and with the compiled CPU kernels switched off, CPU calls must use
    # the torch reference and never import triton (tests/kernels/test_cpu_backend.py: with them).
    code = (
        "import sys, torch, torch.nn.functional as F\n"
        "import bnnbench.kernels as K\n"
        "assert 'triton' not in sys.modules, 'import bnnbench.kernels imported triton'\n"
        "assert K.resolve_backend('auto', torch.device('cpu')) == 'reference'\n"
        "x, w = torch.randn(2, 7, 5, 5), torch.randn(3, 7, 3, 3)\n"
        "s = lambda t: torch.where(t >= 0, 1.0, -1.0)\n"
        "assert torch.equal(K.binary_conv2d(x, w, 1, 1), F.conv2d(s(x), s(w), None, 1, 1))\n"
        "assert 'triton' not in sys.modules, 'reference path imported triton'\n"
        "try:\n"
        "    K.binary_conv2d(x, w, backend='triton')\n"
        "except RuntimeError as e:\n"
        "    assert 'TRITON_INTERPRET' in str(e)\n"
        "else:\n"
        "    raise AssertionError('backend=triton on CPU without the interpreter did not raise')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["CUDA_VISIBLE_DEVICES"] = ""
    env["BNNBENCH_CPU_KERNEL"] = "0"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_layer_rejects_bad_arguments() -> None:
    packed = PackedBinaryConv2d.from_float(torch.randn(8, 33, 3, 3)).weight_packed
    with pytest.raises(ValueError, match="words"):
        PackedBinaryConv2d(packed, in_channels=66)
    with pytest.raises(ValueError, match="groups=3"):
        PackedBinaryConv2d(packed, in_channels=33, groups=3)
    with pytest.raises(ValueError, match="threshold"):
        PackedBinaryConv2d(packed, in_channels=33, threshold=torch.zeros(2, 33))
    with pytest.raises(ValueError, match="impl='xnor'"):
        PackedBinaryConv2d(packed, in_channels=33, impl="xnor")
