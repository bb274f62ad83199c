"""Backend selection: compiled Triton (CUDA), the CPU popcount kernels, the Triton interpreter (CPU),
or the torch reference.

``backend="auto"`` resolves as follows:

- CUDA tensors: the Triton kernels if triton is importable, else the reference.
- CPU tensors: the Triton kernels when they run in the Triton interpreter, i.e. ``TRITON_INTERPRET=1``
  was set before the kernel modules (``bnnbench.kernels.triton_*``) were first imported (triton
  decides interpreter vs compiler when ``@triton.jit`` runs, at module import); otherwise the
  compiled CPU kernels (`bnnbench.kernels.cpu`, built on first use) where they build, else the
  reference, so CPU users without a compiler still get exact results.

Convs with a kernel side > 32 or operands too large for int32 offsets run on the reference under
"auto" (and raise ValueError under "triton").

``backend="triton"`` forces the kernels and raises RuntimeError where they cannot run;
``backend="cpu"`` forces the CPU kernels (RuntimeError on CUDA tensors or where they do not build);
``backend="reference"`` always uses the pure-torch path. ``backend="float"`` is the float baseline
of the benchmarks: `PackedBinaryConv2d` then runs F.conv2d on sign(x - t) with its ±1 weights
unpacked once and its per-channel scale and bias folded into them (what a float deployment of the
same network runs); the functions on packed operands treat it as "reference". Triton is imported
only when needed.
"""

from __future__ import annotations

import functools
import importlib.util
import os

import torch

from bnnbench.kernels import cpu

BACKENDS = ("auto", "triton", "cpu", "reference", "float")


@functools.lru_cache(maxsize=1)
def triton_available() -> bool:
    """True if the triton package can be imported."""
    if importlib.util.find_spec("triton") is None:
        return False
    try:
        import triton  # noqa: F401
    except Exception:  # a broken install must not break the reference path
        return False
    return True


def interpreter_requested() -> bool:
    """True if the TRITON_INTERPRET environment variable is set to a true value."""
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "on", "yes")


def kernels_interpreted() -> bool:
    """True if this process's kernel modules were built for the Triton interpreter."""
    from bnnbench.kernels import triton_conv, triton_pack

    kernels = (
        triton_conv.conv_kernel,
        triton_pack.binarize_pack_kernel,
    )
    return all(type(k).__name__ == "InterpretedFunction" for k in kernels)


def resolve_backend(backend: str, device: torch.device) -> str:
    """Map ``backend`` ("auto" | "triton" | "cpu" | "reference") to the one that runs on ``device``."""
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not valid; choose one of {BACKENDS}")
    if backend in ("reference", "float"):
        return "reference"
    if backend == "cpu":
        if device.type != "cpu":
            raise RuntimeError(f"backend='cpu' runs on CPU tensors; these are on {device.type}")
        if not cpu.available():
            raise RuntimeError(f"backend='cpu': {cpu.unavailable_reason()}")
        return "cpu"
    if device.type == "cuda":
        if triton_available():
            return "triton"
        if backend == "triton":
            raise RuntimeError("backend='triton' needs the triton package, which is not importable")
        return "reference"
    # Check the env var first so that a plain CPU run never imports triton.
    if device.type == "cpu" and interpreter_requested() and triton_available():
        if kernels_interpreted():
            return "triton"
    if backend == "auto" and device.type == "cpu":
        if cpu.available():
            return "cpu"
    if backend == "triton":
        raise RuntimeError(
            f"backend='triton' on {device.type} tensors needs the Triton interpreter: set "
            "TRITON_INTERPRET=1 before bnnbench.kernels.triton_conv / triton_pack are imported "
            "(or use backend='auto' / 'reference')"
        )
    return "reference"
