"""Kernel tests run the Triton kernels in the interpreter on CPU (compiled on CUDA if present).

Triton (3.8) reads TRITON_INTERPRET when ``@triton.jit`` decorates a function: for our kernels
when `bnnbench.kernels.triton_conv` / `triton_pack` are imported, for triton's own @jit helpers
(tl.zeros, tl.sum, ...) when triton is first imported. Another test module may import triton (via
torch or lightning) before this conftest runs, so the kernels use builtins only, the variable is
set here before any test module of this directory imports them, and kernel modules imported
earlier by another part of the suite are rebuilt.
"""

from __future__ import annotations

import importlib
import os
import sys

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
    for _name in ("bnnbench.kernels.triton_conv", "bnnbench.kernels.triton_pack"):
        if _name in sys.modules:
            importlib.reload(sys.modules[_name])

import pytest  # noqa: E402

from bnnbench.kernels.backend import resolve_backend  # noqa: E402

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


@pytest.fixture
def device() -> torch.device:
    """Device the kernel tests run on."""
    return DEVICE


@pytest.fixture
def triton_backend(device: torch.device) -> str:
    """'triton' if the Triton kernels can run on ``device`` here, else skip the test."""
    try:
        return resolve_backend("triton", device)
    except RuntimeError as e:
        pytest.skip(f"Triton kernels cannot run: {e}")
