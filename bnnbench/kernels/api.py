"""Public entry points: argument checks, backend dispatch, and the auto choice of inner loop.

Every function validates its arguments (raising ValueError that names the bad value) before any
work, then runs on the backend chosen by `backend.resolve_backend`.
"""

from __future__ import annotations

import torch

from bnnbench.kernels import cpu
from bnnbench.kernels.backend import resolve_backend
from bnnbench.kernels.limits import MAX_INT32_OFFSET, MAX_KERNEL
from bnnbench.kernels.packing import (
    check_threshold,
    num_words,
    pack_activations,
    pack_weights,
)
from bnnbench.kernels.reference import epilogue_reference, packed_conv2d_reference

IMPLS = ("auto", "xor", "dot")
OUT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.int32)


def _pair(value: int | tuple[int, int], name: str, minimum: int) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else value
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or not all(isinstance(v, int) and v >= minimum for v in pair)
    ):
        raise ValueError(f"{name}={value!r} is not valid; expected an int >= {minimum} or a pair")
    return (pair[0], pair[1])


def choose_impl(impl: str, in_channels_per_group: int, out_channels_per_group: int) -> str:
    """Resolve impl="auto": tensor-core "dot" for wide groups, "xor" for narrow/depth-wise ones."""
    if impl not in IMPLS:
        raise ValueError(f"impl={impl!r} is not valid; choose one of {IMPLS}")
    if impl != "auto":
        return impl
    # A dot tile needs >= 16 output and 32 input channels per group to avoid mostly-zero tiles;
    # the threshold is a design guess until measured (experiments/kernels/bench_kernels.py).
    return "dot" if in_channels_per_group >= 32 and out_channels_per_group >= 16 else "xor"


def check_conv(
    x_shape: tuple[int, ...],
    in_channels: int,
    cout: int,
    cin_g_weight: int,
    kernel: tuple[int, int],
    stride: int | tuple[int, int],
    padding: int | tuple[int, int],
    groups: int,
    scale: torch.Tensor | None,
    bias: torch.Tensor | None,
    sample_scale: torch.Tensor | None,
    residual: torch.Tensor | None,
    out_dtype: torch.dtype,
    impl: str,
    device: torch.device,
) -> tuple[tuple[int, int], tuple[int, int], str, int, int]:
    """Validate a conv's arguments; (stride, padding, resolved impl, Ho, Wo) or ValueError."""
    n, h, w = x_shape
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"groups={groups!r} is not valid; expected a positive int")
    if in_channels % groups != 0 or cout % groups != 0:
        raise ValueError(
            f"groups={groups} must divide in_channels={in_channels} and out_channels={cout}"
        )
    if cin_g_weight != in_channels // groups:
        raise ValueError(
            f"weight has {cin_g_weight} input channels per group; in_channels={in_channels} with "
            f"groups={groups} needs {in_channels // groups}"
        )
    stride = _pair(stride, "stride", 1)
    padding = _pair(padding, "padding", 0)
    ho = (h + 2 * padding[0] - kernel[0]) // stride[0] + 1
    wo = (w + 2 * padding[1] - kernel[1]) // stride[1] + 1
    if ho < 1 or wo < 1:
        raise ValueError(
            f"kernel {kernel} with padding={padding} does not fit input {h}x{w} "
            f"(output would be {ho}x{wo})"
        )
    if out_dtype not in OUT_DTYPES:
        raise ValueError(f"out_dtype={out_dtype} is not valid; choose one of {OUT_DTYPES}")
    epilogue = {"scale": scale, "bias": bias, "sample_scale": sample_scale, "residual": residual}
    if out_dtype == torch.int32 and any(v is not None for v in epilogue.values()):
        raise ValueError("out_dtype=torch.int32 returns the raw count; it takes no epilogue")
    for name, t in epilogue.items():
        if t is not None and t.device != device:
            raise ValueError(f"{name} is on {t.device}; expected {device} like the input")
    for name, t in (("scale", scale), ("bias", bias)):
        if t is not None and tuple(t.shape) != (cout,):
            raise ValueError(f"{name} has shape {tuple(t.shape)}; expected ({cout},)")
    if sample_scale is not None and tuple(sample_scale.shape) not in ((n,), (n, cout)):
        raise ValueError(
            f"sample_scale has shape {tuple(sample_scale.shape)}; expected ({n},) or ({n}, {cout})"
        )
    if residual is not None and tuple(residual.shape) != (n, cout, ho, wo):
        raise ValueError(
            f"residual has shape {tuple(residual.shape)}; expected the output's {(n, cout, ho, wo)}"
        )
    impl = choose_impl(impl, in_channels // groups, cout // groups)
    return stride, padding, impl, ho, wo


def _fit_backend(
    resolved: str, requested: str, x_words: int, w_words: int, pixels: int, kernel: tuple[int, int]
) -> str:
    """Send convs beyond the Triton path's limits to the reference (or refuse if forced)."""
    if resolved != "triton":
        return resolved
    if max(kernel) > MAX_KERNEL or max(x_words, w_words, pixels) > MAX_INT32_OFFSET:
        if requested == "triton":
            raise ValueError(
                f"kernel size {kernel} (max {MAX_KERNEL}) or operand size ({x_words}, {w_words} "
                f"words, {pixels} output pixels; max {MAX_INT32_OFFSET}) is beyond the Triton "
                "path; use backend='auto' or 'reference'"
            )
        return "reference"
    return resolved


def _run_conv(
    x_packed: torch.Tensor,
    w_packed: torch.Tensor,
    in_channels: int,
    stride: tuple[int, int],
    padding: tuple[int, int],
    groups: int,
    epilogue: dict,
    out_dtype: torch.dtype,
    impl: str,
    backend: str,
) -> torch.Tensor:
    if backend == "reference":
        acc = packed_conv2d_reference(x_packed, w_packed, in_channels, stride, padding, groups)
        return epilogue_reference(acc, **epilogue, out_dtype=out_dtype)
    if backend == "cpu":
        weights = cpu.prepack_weights(w_packed, in_channels // groups)
        return cpu.conv2d_packed(
            x_packed, weights, in_channels, stride, padding, groups, **epilogue, out_dtype=out_dtype
        )
    from bnnbench.kernels.triton_conv import packed_conv2d_triton

    for name in ("scale", "bias"):
        if epilogue[name] is not None:
            epilogue[name] = epilogue[name].contiguous()
    return packed_conv2d_triton(
        x_packed.contiguous(),
        w_packed.contiguous(),
        in_channels,
        stride,
        padding,
        groups,
        **epilogue,
        out_dtype=out_dtype,
        impl=impl,
    )


def packed_conv2d(
    x_packed: torch.Tensor,
    w_packed: torch.Tensor,
    in_channels: int,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    groups: int = 1,
    *,
    scale: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    sample_scale: torch.Tensor | None = None,
    residual: torch.Tensor | None = None,
    out_dtype: torch.dtype = torch.float32,
    impl: str = "auto",
    backend: str = "auto",
) -> torch.Tensor:
    """Binary conv of packed activations (N, H, W, words) and packed weights (C_out, kh, kw, words)."""
    for name, t in (("x_packed", x_packed), ("w_packed", w_packed)):
        if t.dim() != 4 or t.dtype != torch.int32:
            raise ValueError(
                f"{name} must be a 4-D int32 tensor from bnnbench.kernels packing; "
                f"got {t.dtype} of shape {tuple(t.shape)}"
            )
    if w_packed.device != x_packed.device:
        raise ValueError(f"w_packed is on {w_packed.device}; x_packed is on {x_packed.device}")
    if not isinstance(in_channels, int) or in_channels < 1:
        raise ValueError(f"in_channels={in_channels!r} is not valid; expected a positive int")
    if not isinstance(groups, int) or groups < 1 or in_channels % groups != 0:
        raise ValueError(
            f"groups={groups!r} must be a positive divisor of in_channels={in_channels}"
        )
    n, h, w, wtot = x_packed.shape
    cout, kh, kw, wg = w_packed.shape
    cin_g = in_channels // groups
    if wg != num_words(cin_g) or wtot != groups * wg:
        raise ValueError(
            f"packed shapes do not match in_channels={in_channels}, groups={groups}: expected "
            f"{num_words(cin_g)} weight words and {groups * num_words(cin_g)} activation words "
            f"per pixel, got {wg} and {wtot}"
        )
    stride, padding, impl, ho, wo = check_conv(
        (n, h, w),
        in_channels,
        cout,
        cin_g,
        (kh, kw),
        stride,
        padding,
        groups,
        scale,
        bias,
        sample_scale,
        residual,
        out_dtype,
        impl,
        x_packed.device,
    )
    be = _fit_backend(
        resolve_backend(backend, x_packed.device),
        backend,
        x_packed.numel(),
        w_packed.numel(),
        n * ho * wo,
        (kh, kw),
    )
    epilogue = {"scale": scale, "bias": bias, "sample_scale": sample_scale, "residual": residual}
    return _run_conv(
        x_packed, w_packed, in_channels, stride, padding, groups, epilogue, out_dtype, impl, be
    )


def binarize_pack(
    x: torch.Tensor,
    threshold: torch.Tensor | None = None,
    groups: int = 1,
    *,
    backend: str = "auto",
) -> torch.Tensor:
    """Pack bits ``x >= threshold`` of (N, C, H, W) into NHWC-packed words (N, H, W, G * words)."""
    if x.dim() != 4:
        raise ValueError(f"x must be 4-D (N, C, H, W); got shape {tuple(x.shape)}")
    n, c = x.shape[:2]
    if not isinstance(groups, int) or groups < 1 or c % groups != 0:
        raise ValueError(f"groups={groups!r} must be a positive divisor of channels={c}")
    if threshold is not None:
        check_threshold(threshold, n, c)
        if threshold.device != x.device:
            raise ValueError(f"threshold is on {threshold.device}; x is on {x.device}")
    if resolve_backend(backend, x.device) in ("reference", "cpu"):
        return pack_activations(x, groups, threshold)  # the CPU kernels pack inside their conv
    from bnnbench.kernels.triton_pack import binarize_pack_triton

    return binarize_pack_triton(x, threshold, groups)


def binary_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    groups: int = 1,
    *,
    scale: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    sample_scale: torch.Tensor | None = None,
    residual: torch.Tensor | None = None,
    out_dtype: torch.dtype | None = None,
    impl: str = "auto",
    backend: str = "auto",
) -> torch.Tensor:
    """conv2d(sign(x), sign(weight)) with zero padding (sign(0) = +1) on packed bits, plus epilogue."""
    if x.dim() != 4:
        raise ValueError(f"x must be 4-D (N, C, H, W); got shape {tuple(x.shape)}")
    if weight.dim() != 4:
        raise ValueError(
            f"weight must be 4-D (C_out, C_in/groups, kh, kw); got shape {tuple(weight.shape)}"
        )
    if weight.device != x.device:
        raise ValueError(f"weight is on {weight.device}; x is on {x.device}")
    if out_dtype is None:
        out_dtype = x.dtype if x.dtype in (torch.float16, torch.bfloat16) else torch.float32
    n, c, h, w = x.shape
    cout, cin_g, kh, kw = weight.shape
    stride, padding, impl, ho, wo = check_conv(
        (n, h, w),
        c,
        cout,
        cin_g,
        (kh, kw),
        stride,
        padding,
        groups,
        scale,
        bias,
        sample_scale,
        residual,
        out_dtype,
        impl,
        x.device,
    )
    wg = num_words(cin_g)
    be_pack = resolve_backend(backend, x.device)
    be = _fit_backend(
        be_pack, backend, n * h * w * groups * wg, cout * kh * kw * wg, n * ho * wo, (kh, kw)
    )
    epilogue = {"scale": scale, "bias": bias, "sample_scale": sample_scale, "residual": residual}
    if be == "cpu":  # packs x straight into the kernel's word planes
        weights = cpu.prepack_weights(pack_weights(weight), cin_g)
        return cpu.conv2d_float(x, weights, stride, padding, groups, **epilogue, out_dtype=out_dtype)
    x_packed = binarize_pack(x, None, groups, backend=be_pack)
    w_packed = pack_weights(weight)
    return _run_conv(x_packed, w_packed, c, stride, padding, groups, epilogue, out_dtype, impl, be)


def binary_linear(
    x: torch.Tensor,
    weight: torch.Tensor,
    *,
    scale: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    residual: torch.Tensor | None = None,
    out_dtype: torch.dtype | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """F.linear(sign(x), sign(weight)) on packed bits (x (..., C_in), weight (C_out, C_in)), plus
    y * scale[o] + bias[o] + residual (..., C_out): a 1x1 binary conv of the samples."""
    if weight.dim() != 2:
        raise ValueError(f"weight must be 2-D (C_out, C_in); got shape {tuple(weight.shape)}")
    if x.dim() < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"x has shape {tuple(x.shape)}; its last dim must be C_in={weight.shape[1]}")
    cout, cin = weight.shape
    lead = x.shape[:-1]
    rows = x.reshape(-1, cin)
    n = rows.shape[0]
    if residual is not None and tuple(residual.shape) != (*lead, cout):
        raise ValueError(f"residual has shape {tuple(residual.shape)}; expected {(*lead, cout)}")
    w4 = weight[:, :, None, None]
    kw = {"scale": scale, "bias": bias, "out_dtype": out_dtype, "backend": backend}
    if resolve_backend(backend, x.device) == "cpu":
        # the samples as one row of n pixels: the CPU kernels vectorise over pixels
        res = None if residual is None else residual.reshape(n, cout).t().reshape(1, cout, 1, n)
        y = binary_conv2d(rows.t().reshape(1, cin, 1, n), w4, residual=res, **kw).reshape(cout, n).t()
    else:
        res = None if residual is None else residual.reshape(n, cout, 1, 1)
        y = binary_conv2d(rows[:, :, None, None], w4, residual=res, **kw).reshape(n, cout)
    return y.reshape(*lead, cout)
