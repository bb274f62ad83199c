"""The compiled CPU popcount kernels: bit-exact against F.conv2d(sign(x), sign(w)) with zero padding,
epilogue bit-identical to the torch reference, every SIMD variant compiled in, and the fallback
to the reference where they cannot be built. Nothing here is timed (see experiments/kernels)."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from bnnbench.kernels import (
    PackedBinaryConv2d,
    binary_conv2d,
    cpu,
    pack_activations,
    pack_weights,
    packed_conv2d,
    resolve_backend,
)

# Skipped only where no C++ compiler exists; where one does, a kernel that fails to build fails here.
pytestmark = pytest.mark.skipif(not cpu.compiler_found(), reason="no C++ compiler: the torch reference runs")
VARIANTS = cpu.simd_variants() if cpu.available() else ["not built"]


def test_kernels_build_where_a_compiler_exists() -> None:
    assert cpu.available(), cpu.unavailable_reason()


def sign(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t >= 0, 1.0, -1.0)


def random_shapes(count: int, seed: int) -> list[dict]:
    """Odd sizes, strides 1-3, padding 0-3 per side, kernels 1-5 (not square), groups, depth-wise,
    C_in / groups not a multiple of 64 (and > 64: several words)."""
    rng = random.Random(seed)
    shapes = []
    for _ in range(count):
        groups = rng.choice([1, 1, 1, 2, 3])
        cin_g = rng.choice([1, 3, 31, 32, 33, 63, 64, 65, 100, 129])
        cout_g = rng.choice([1, 2, 3, 4, 5, 8, 9])
        kh, kw = rng.randint(1, 5), rng.randint(1, 5)
        sh, sw = rng.randint(1, 3), rng.randint(1, 3)
        ph, pw = rng.randint(0, 3), rng.randint(0, 3)
        h, w = rng.randint(max(1, kh - 2 * ph), 13), rng.randint(max(1, kw - 2 * pw), 21)
        shapes.append(dict(n=rng.randint(1, 3), cin=cin_g * groups, cout=cout_g * groups, h=h, w=w,
                           kernel=(kh, kw), stride=(sh, sw), padding=(ph, pw), groups=groups))
    shapes.append(dict(n=2, cin=48, cout=48, h=9, w=11, kernel=(3, 3), stride=(1, 1), padding=(1, 1), groups=48))
    shapes.append(dict(n=1, cin=64, cout=64, h=7, w=7, kernel=(3, 3), stride=(2, 2), padding=(1, 1), groups=64))
    shapes.append(dict(n=1, cin=256, cout=24, h=6, w=5, kernel=(1, 1), stride=(1, 1), padding=(0, 0), groups=1))
    return shapes


@pytest.mark.parametrize("simd", VARIANTS)
@pytest.mark.parametrize("shape", random_shapes(40, seed=7), ids=lambda s: "x".join(map(str, (s["cin"], s["cout"], *s["kernel"], *s["stride"], *s["padding"], s["groups"]))))
def test_conv_is_exact_against_float_conv(shape: dict, simd: str) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape["n"], shape["cin"], shape["h"], shape["w"], generator=g)
    w = torch.randn(shape["cout"], shape["cin"] // shape["groups"], *shape["kernel"], generator=g)
    x[0, 0, 0, 0] = 0.0  # sign(0) = +1
    stride, padding, groups = shape["stride"], shape["padding"], shape["groups"]
    expected = F.conv2d(sign(x), sign(w), None, stride, padding, 1, groups).round().to(torch.int32)
    weights = cpu.prepack_weights(pack_weights(w), shape["cin"] // groups)
    from_float = cpu.conv2d_float(x, weights, stride, padding, groups, out_dtype=torch.int32, simd=simd)
    assert torch.equal(from_float, expected)
    from_packed = cpu.conv2d_packed(pack_activations(x, groups), weights, shape["cin"], stride, padding,
                                    groups, out_dtype=torch.int32, simd=simd)
    assert torch.equal(from_packed, expected)


@pytest.mark.parametrize("simd", VARIANTS)
def test_epilogue_is_bit_identical_to_the_reference(simd: str) -> None:
    # y = count * scale[c] * sample_scale[n(, c)] + bias[c] + residual, fp32 in that order
    g = torch.Generator().manual_seed(1)
    x, w = torch.randn(3, 70, 9, 10, generator=g), torch.randn(12, 70, 3, 3, generator=g)
    scale, bias = torch.rand(12, generator=g) + 0.1, torch.randn(12, generator=g)
    residual = torch.randn(3, 12, 5, 5, generator=g)
    for sample_scale in (torch.rand(3, generator=g), torch.rand(3, 12, generator=g), None):
        kw = dict(scale=scale, bias=bias, sample_scale=sample_scale, residual=residual)
        ref = binary_conv2d(x, w, 2, 1, **kw, backend="reference")
        weights = cpu.prepack_weights(pack_weights(w), 70)
        got = cpu.conv2d_float(x, weights, (2, 2), (1, 1), 1, **kw, simd=simd)
        assert torch.equal(got, ref)
    half = cpu.conv2d_float(x, weights, (2, 2), (1, 1), 1, scale=scale, out_dtype=torch.float16, simd=simd)
    assert half.dtype == torch.float16
    assert torch.equal(half, binary_conv2d(x, w, 2, 1, scale=scale, out_dtype=torch.float16, backend="reference"))


@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_epilogue_is_bit_identical_to_the_reference(stride: int) -> None:
    # depth-wise convs threshold rows 16 (stride 1) or 32 (stride 2, split into phases) floats at
    # a time and write the epilogue straight into the output rows, masked at a row's end: widths
    # 37 and 40 cover whole steps, a second step and odd tails; same formula as above
    g = torch.Generator().manual_seed(2)
    x, w = torch.randn(2, 24, 11, 37 + 3 * (stride == 1), generator=g), torch.randn(24, 1, 3, 3, generator=g)
    scale, bias = torch.rand(24, generator=g) + 0.1, torch.randn(24, generator=g)
    threshold = torch.randn(24, generator=g) * 0.1
    weights = cpu.prepack_weights(pack_weights(w), 1)
    ref_shape = binary_conv2d(x, w, stride, 1, groups=24, backend="reference").shape
    residual = torch.randn(ref_shape, generator=g)
    for sample_scale in (torch.rand(2, 24, generator=g), None):
        kw = dict(scale=scale, bias=bias, sample_scale=sample_scale, residual=residual)
        # x >= t exactly when x - t >= 0 (an IEEE difference has the right sign)
        ref = binary_conv2d(x - threshold[None, :, None, None], w, stride, 1, groups=24, **kw, backend="reference")
        got = cpu.conv2d_float(x, weights, (stride, stride), (1, 1), 24, threshold=threshold, **kw)
        assert torch.equal(got, ref)


@pytest.mark.parametrize("simd", VARIANTS)
def test_thresholds_per_channel_and_per_sample(simd: str) -> None:
    g = torch.Generator().manual_seed(2)
    x, w = torch.randn(2, 40, 6, 17, generator=g), torch.randn(8, 40, 3, 3, generator=g)
    x[1, 3, 2, 5] = float("nan")  # NaN packs as -1, like the reference
    for t in (torch.randn(40, generator=g), torch.randn(2, 40, generator=g)):
        layer = PackedBinaryConv2d.from_float(w, 1, 1, backend="cpu")
        ref = PackedBinaryConv2d.from_float(w, 1, 1, backend="reference")
        assert torch.equal(layer(x, threshold=t), ref(x, threshold=t))
        xp = pack_activations(x, 1, t)
        weights = cpu.prepack_weights(pack_weights(w), 40)
        got = cpu.conv2d_float(x, weights, (1, 1), (1, 1), 1, threshold=t, out_dtype=torch.int32, simd=simd)
        assert torch.equal(got, packed_conv2d(xp, pack_weights(w), 40, 1, 1, out_dtype=torch.int32,
                                              backend="reference"))


def test_public_entry_points_on_the_cpu_backend() -> None:
    g = torch.Generator().manual_seed(3)
    x, w = torch.randn(2, 96, 7, 8, generator=g), torch.randn(32, 48, 3, 3, generator=g)
    kw = dict(stride=1, padding=1, groups=2, scale=torch.rand(32, generator=g), bias=torch.randn(32, generator=g))
    ref = binary_conv2d(x, w, **kw, backend="reference")
    assert torch.equal(binary_conv2d(x, w, **kw, backend="cpu"), ref)
    xp, wp = pack_activations(x, 2), pack_weights(w)
    assert torch.equal(packed_conv2d(xp, wp, 96, **kw, backend="cpu"), ref)
    assert resolve_backend("cpu", torch.device("cpu")) == "cpu"


def test_layer_prepacks_once_and_follows_new_weights() -> None:
    g = torch.Generator().manual_seed(4)
    x = torch.randn(1, 64, 6, 6, generator=g)
    w1, w2 = torch.randn(16, 64, 3, 3, generator=g), torch.randn(16, 64, 3, 3, generator=g)
    layer = PackedBinaryConv2d.from_float(w1, 1, 1, backend="cpu")
    assert torch.equal(layer(x), binary_conv2d(x, w1, 1, 1, backend="reference"))
    first = layer._cpu_weights()
    assert layer._cpu_weights() is first  # cached
    layer.load_state_dict(PackedBinaryConv2d.from_float(w2, 1, 1).state_dict())  # in-place copy
    assert torch.equal(layer(x), binary_conv2d(x, w2, 1, 1, backend="reference"))
    with pytest.raises(ValueError, match="channels"):
        layer(torch.randn(1, 63, 6, 6))


def test_packed_weights_are_32x_smaller() -> None:
    w = torch.randn(128, 128, 3, 3)
    packed = pack_weights(w)
    w64, _ = cpu.prepack_weights(packed, 128)
    assert w.numel() * 4 == 32 * w64.numel() * 8
    assert w64.data_ptr() == packed.data_ptr()  # the kernel's 64-bit words are the same memory
    odd, _ = cpu.prepack_weights(pack_weights(torch.randn(8, 96, 3, 3)), 96)  # 3 words: padded copy
    assert odd.shape == (8, 3, 3, 2)


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, **env}
    full.pop("TRITON_INTERPRET", None)
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=300)


def test_without_a_compiler_auto_falls_back_to_the_reference(tmp_path) -> None:
    code = (
        "import torch, torch.nn.functional as F\n"
        "import bnnbench.kernels as K\n"
        "from bnnbench.kernels import cpu\n"
        "assert not cpu.available(), 'built without a compiler?'\n"
        "print('REASON', cpu.unavailable_reason())\n"
        "assert K.resolve_backend('auto', torch.device('cpu')) == 'reference'\n"
        "x, w = torch.randn(2, 7, 5, 5), torch.randn(3, 7, 3, 3)\n"
        "s = lambda t: torch.where(t >= 0, 1.0, -1.0)\n"
        "assert torch.equal(K.binary_conv2d(x, w, 1, 1), F.conv2d(s(x), s(w), None, 1, 1))\n"
        "try:\n"
        "    K.binary_conv2d(x, w, backend='cpu')\n"
        "except RuntimeError as e:\n"
        "    print('ERROR', e)\n"
        "else:\n"
        "    raise AssertionError('backend=cpu without the kernels did not raise')\n"
    )
    # an empty cache and no usable compiler: the build fails and the reference runs
    done = _run(code, BNNBENCH_KERNEL_CACHE=str(tmp_path), CXX=str(tmp_path / "no-such-compiler"))
    assert done.returncode == 0, done.stderr
    assert "REASON could not build the CPU kernels" in done.stdout
    assert "ERROR backend='cpu': could not build" in done.stdout
    disabled = _run(code, BNNBENCH_CPU_KERNEL="0")
    assert disabled.returncode == 0, disabled.stderr
    assert "REASON disabled by BNNBENCH_CPU_KERNEL" in disabled.stdout


def test_auto_picks_the_cpu_kernels_and_never_imports_triton() -> None:
    code = (
        "import sys, torch\n"
        "import bnnbench.kernels as K\n"
        "assert K.resolve_backend('auto', torch.device('cpu')) == 'cpu'\n"
        "x, w = torch.randn(1, 9, 6, 6), torch.randn(4, 9, 3, 3)\n"
        "assert torch.equal(K.binary_conv2d(x, w, 1, 1), K.binary_conv2d(x, w, 1, 1, backend='reference'))\n"
        "assert 'triton' not in sys.modules\n"
    )
    done = _run(code)
    assert done.returncode == 0, done.stderr


def test_float_baseline_layer_computes_the_same_conv() -> None:
    # backend="float": F.conv2d on sign(x - t) with scale and bias folded into the weights
    g = torch.Generator().manual_seed(5)
    w, x = torch.randn(16, 24, 3, 3, generator=g), torch.randn(2, 24, 7, 7, generator=g)
    kw = dict(scale=torch.rand(16, generator=g) + 0.5, bias=torch.randn(16, generator=g),
              threshold=torch.randn(24, generator=g))
    ref = PackedBinaryConv2d.from_float(w, 1, 1, **kw, backend="reference")
    flt = PackedBinaryConv2d.from_float(w, 1, 1, **kw, backend="float")
    res = torch.randn(2, 16, 7, 7, generator=g)
    for extra in ({}, {"residual": res}, {"sample_scale": torch.rand(2, 16, generator=g)},
                  {"threshold": torch.randn(2, 24, generator=g)}):
        torch.testing.assert_close(flt(x, **extra), ref(x, **extra), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_binary_linear_is_exact(backend: str) -> None:
    # F.linear(sign(x), sign(w)) for any leading shape, C_in not a multiple of 64, with the epilogue
    from bnnbench.kernels import binary_linear

    g = torch.Generator().manual_seed(6)
    x, w = torch.randn(3, 5, 100, generator=g), torch.randn(7, 100, generator=g)
    expected = F.linear(sign(x), sign(w))
    assert torch.equal(binary_linear(x, w, out_dtype=torch.int32, backend=backend), expected.round().int())
    scale, bias, res = torch.rand(7, generator=g), torch.randn(7, generator=g), torch.randn(3, 5, 7, generator=g)
    got = binary_linear(x, w, scale=scale, bias=bias, residual=res, backend=backend)
    assert torch.equal(got, ((expected * scale) + bias) + res)
    with pytest.raises(ValueError, match="C_in=100"):
        binary_linear(torch.randn(2, 99), w, backend=backend)


def test_threads_change_nothing_but_time() -> None:
    g = torch.Generator().manual_seed(7)
    x, w = torch.randn(2, 130, 15, 9, generator=g), torch.randn(33, 130, 3, 3, generator=g)
    weights = cpu.prepack_weights(pack_weights(w), 130)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = cpu.conv2d_float(x, weights, (1, 1), (1, 1), 1, scale=torch.ones(33))
        torch.set_num_threads(2)
        two = cpu.conv2d_float(x, weights, (1, 1), (1, 1), 1, scale=torch.ones(33))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one, two)
