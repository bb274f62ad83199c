"""CPU backend: bit-packed binary conv with hardware popcount, a C++ extension compiled on first use.

Build: `torch.utils.cpp_extension.load` compiles `csrc/popcount_conv.cpp` with the machine's own
C++ compiler (``-O3 -march=native -fopenmp -ffp-contract=off``) once, into a cache folder keyed
by the source, torch's version, the flags and the CPU's feature flags
(``$BNNBENCH_KERNEL_CACHE``, default ``~/.cache/bnnbench/kernels``); later processes import the
built library directly. Compiled on first use rather than at install because ``-march=native``
must see the CPU the code runs on (AVX-512 VPOPCNTQ, AVX2 or NEON), which a wheel built
elsewhere cannot; ``make install`` triggers the build so that no test or run pays for it.
Without a compiler (or with ``BNNBENCH_CPU_KERNEL=0``) `available()` is False and
``backend="auto"`` uses the torch reference; `unavailable_reason()` says why.

Kernel (see the C++ file): the input is packed once into zero-padded, stride-phase-split planes
of 64-bit words; the inner loop vectorises over output pixels (XOR with a broadcast weight word,
popcount, add), with a per-(channel, tap) correction that makes padded taps contribute 0, so
results equal ``F.conv2d(sign(x), sign(w))`` with zero padding exactly, and the float epilogue
(scale, per-sample scale, bias, residual) is bit-identical to the torch reference's. Threads:
torch's intra-op thread count (``torch.set_num_threads``). SIMD: the best variant compiled in, or
``$BNNBENCH_CPU_SIMD`` (avx512 | avx2 | neon | scalar), or the ``simd`` argument.

``python -m bnnbench.kernels.cpu`` builds (if needed) and prints what was built.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import torch

SOURCE = Path(__file__).with_name("csrc") / "popcount_conv.cpp"
SIMD_CODES = {"scalar": 0, "avx2": 1, "avx512": 2, "neon": 3}
_DISABLE = ("0", "false", "off", "no")
_reason: list[str] = []


@functools.lru_cache(maxsize=1)
def _is_gcc() -> bool:
    try:
        out = subprocess.run([os.environ.get("CXX", "c++"), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return "Free Software Foundation" in out.stdout and "clang" not in out.stdout.lower()


def _flags() -> list[str]:
    arch = "-mcpu=native" if platform.machine().lower() in ("aarch64", "arm64") else "-march=native"
    # -ffp-contract=off: no FMA contraction, so the epilogue rounds like the torch reference
    flags = ["-O3", arch, "-fopenmp", "-ffp-contract=off"]
    if _is_gcc():
        # masked vector loops for loop tails: rows shorter than a vector (7, 14 pixels) stay vectorised
        flags.append("--param=vect-partial-vector-usage=2")
    return flags


def _cpu_features() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def cache_dir() -> Path:
    """Folder holding the built extensions ($BNNBENCH_KERNEL_CACHE or ~/.cache/bnnbench/kernels)."""
    root = os.environ.get("BNNBENCH_KERNEL_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "bnnbench" / "kernels"


def build_name() -> str:
    """Extension name: the hash of source, torch version, flags, Python and CPU features."""
    key = hashlib.sha256()
    for part in (SOURCE.read_bytes(), torch.__version__.encode(), " ".join(_flags()).encode(),
                 sys.version.encode(), _cpu_features().encode()):
        key.update(part)
    return f"bnnbench_popcount_{key.hexdigest()[:16]}"


def _import_built(path: Path, name: str) -> ModuleType:
    loader = importlib.machinery.ExtensionFileLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(name, str(path), loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=1)
def load() -> ModuleType | None:
    """The compiled extension (built now if not cached), or None where it cannot be built."""
    if os.environ.get("BNNBENCH_CPU_KERNEL", "1").strip().lower() in _DISABLE:
        _reason.append("disabled by BNNBENCH_CPU_KERNEL")
        return None
    name = build_name()
    folder = cache_dir() / name
    built = folder / f"{name}.so"
    try:
        if built.exists():
            return _import_built(built, name)
        from torch.utils import cpp_extension

        folder.mkdir(parents=True, exist_ok=True)
        print(f"bnnbench: compiling the CPU popcount kernels into {folder} (once)", file=sys.stderr)
        return cpp_extension.load(
            name, [str(SOURCE)], extra_cflags=_flags(), extra_ldflags=["-fopenmp"],
            build_directory=str(folder), verbose=False,
        )
    except Exception as e:  # no compiler, no ninja, a broken toolchain: fall back to the reference
        first = str(e).strip().splitlines()
        _reason.append(f"could not build the CPU kernels ({type(e).__name__}: {first[0] if first else ''})")
        return None


def compiler_found() -> bool:
    """True if the C++ compiler the build would use ($CXX, default c++) is on PATH."""
    return shutil.which(os.environ.get("CXX", "c++")) is not None


def available() -> bool:
    """True if the compiled CPU kernels can run here (building them now if needed)."""
    return load() is not None


def unavailable_reason() -> str | None:
    """Why `available()` is False (None when it is True)."""
    return None if available() else (_reason[-1] if _reason else "unknown")


def simd_variants() -> list[str]:
    """SIMD variants compiled into the extension, best first (empty if unavailable)."""
    ext = load()
    return list(ext.simd_variants()) if ext is not None else []


def resolve_simd(simd: str | None = None) -> str:
    """`simd`, else $BNNBENCH_CPU_SIMD, else the best compiled variant; ValueError if not compiled."""
    variants = simd_variants()
    choice = simd or os.environ.get("BNNBENCH_CPU_SIMD") or (variants[0] if variants else "scalar")
    if choice not in variants:
        raise ValueError(f"simd={choice!r} is not compiled into the CPU kernels; choose one of {variants}")
    return choice


def _ext() -> ModuleType:
    ext = load()
    if ext is None:
        raise RuntimeError(f"the CPU kernels are not available: {unavailable_reason()}")
    return ext


def prepack_weights(w_packed: torch.Tensor, in_channels_per_group: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(64-bit weight words (C_out, kh, kw, words64), padded-tap contributions (C_out, kh, kw));
    the words share `w_packed`'s memory where it has an even number of words per tap."""
    w_packed = w_packed.contiguous()
    w64, tap_zero = _ext().prepack_weights(w_packed, int(in_channels_per_group))
    if w_packed.shape[-1] % 2 == 0:
        # an even number of 32-bit words already is the 64-bit layout (little-endian pairs): share
        # the packed weights instead of holding a second copy
        w64 = w_packed.view(torch.int64)
    return w64, tap_zero


def _f32(t: torch.Tensor | None) -> torch.Tensor | None:
    if t is None or (t.dtype == torch.float32 and t.is_contiguous()):
        return t  # the common case, without a dispatcher round trip per epilogue tensor
    return t.to(torch.float32).contiguous()


def _flatten_1x1(shape: tuple[int, int, int, int], kernel: tuple[int, int], stride: tuple[int, int],
                 padding: tuple[int, int]) -> bool:
    # A 1x1, stride-1, unpadded conv treats the image as one long row: full vectors, no row tails.
    return kernel == (1, 1) and stride == (1, 1) and padding == (0, 0) and shape[2] > 1


def conv2d_float(
    x: torch.Tensor,
    weights: tuple[torch.Tensor, torch.Tensor],
    stride: tuple[int, int],
    padding: tuple[int, int],
    groups: int,
    *,
    threshold: torch.Tensor | None = None,
    scale: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    sample_scale: torch.Tensor | None = None,
    residual: torch.Tensor | None = None,
    out_dtype: torch.dtype = torch.float32,
    simd: str | None = None,
) -> torch.Tensor:
    """Fused layer: pack bits x >= threshold of float x (N, C, H, W), binary conv, epilogue."""
    ext = _ext()
    w64, tap_zero = weights
    n, c, h, w = x.shape
    kernel = (w64.shape[1], w64.shape[2])
    flat = _flatten_1x1(x.shape, kernel, stride, padding)
    xf = x.to(torch.float32).contiguous()
    if flat:
        xf = xf.reshape(n, c, 1, h * w)
        h, w = 1, h * w
    res = _f32(residual)
    if res is not None and flat:
        res = res.reshape(n, -1, 1, h * w)
    out = ext.conv_float(xf, _f32(threshold), groups, w64, tap_zero, *stride, *padding, _f32(scale),
                         _f32(bias), _f32(sample_scale), res, out_dtype == torch.int32,
                         SIMD_CODES[resolve_simd(simd)])
    if flat:
        out = out.reshape(n, -1, x.shape[2], x.shape[3])
    return out if out.dtype == out_dtype else out.to(out_dtype)


def conv2d_packed(
    x_packed: torch.Tensor,
    weights: tuple[torch.Tensor, torch.Tensor],
    in_channels: int,
    stride: tuple[int, int],
    padding: tuple[int, int],
    groups: int,
    *,
    scale: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    sample_scale: torch.Tensor | None = None,
    residual: torch.Tensor | None = None,
    out_dtype: torch.dtype = torch.float32,
    simd: str | None = None,
) -> torch.Tensor:
    """Binary conv of NHWC-packed int32 activations (N, H, W, words) with the fused epilogue."""
    ext = _ext()
    w64, tap_zero = weights
    n, h, w, _ = x_packed.shape
    kernel = (w64.shape[1], w64.shape[2])
    planes = ext.pack_planes_nhwc(x_packed.contiguous(), in_channels, groups, *kernel, *stride, *padding)
    out = ext.conv_planes(planes, n, in_channels, h, w, groups, w64, tap_zero, *stride, *padding, _f32(scale),
                          _f32(bias), _f32(sample_scale), _f32(residual), out_dtype == torch.int32,
                          SIMD_CODES[resolve_simd(simd)])
    return out if out.dtype == out_dtype else out.to(out_dtype)


def main() -> int:
    """Build the extension if needed and print where it is and which SIMD variants it has."""
    if not available():
        print(f"bnnbench CPU kernels: not available ({unavailable_reason()}); the torch reference runs instead")
        return 0
    print(f"bnnbench CPU kernels: {cache_dir() / build_name()} (simd: {', '.join(simd_variants())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
