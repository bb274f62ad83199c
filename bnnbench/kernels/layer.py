"""`PackedBinaryConv2d`: an inference conv holding 1-bit packed weights, built by the export path.

y = conv(sign(x - threshold), sign(W)) * scale[c] (* sample_scale) + bias[c] (+ residual), where
``scale`` folds the weight scale and BN, ``bias`` the BN shift. Per-input-channel activation
scales (e.g. DAB's alpha per sample and input channel) do not factor out of a binary conv, so the
export layer must fold or approximate them; the kernel only takes per-sample (N,) or
per-sample-and-output-channel (N, C_out) scales.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bnnbench.kernels import cpu
from bnnbench.kernels.api import binarize_pack, check_conv, choose_impl, packed_conv2d
from bnnbench.kernels.backend import resolve_backend
from bnnbench.kernels.packing import check_threshold, num_words, pack_weights, unpack_weights
from bnnbench.kernels.reference import epilogue_reference


class PackedBinaryConv2d(nn.Module):
    """Binary conv2d with packed weights (C_out, kh, kw, words) int32 and a fused float epilogue."""

    def __init__(
        self,
        weight_packed: torch.Tensor,
        in_channels: int,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        groups: int = 1,
        scale: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
        threshold: torch.Tensor | None = None,
        out_dtype: torch.dtype | None = None,
        impl: str = "auto",
        backend: str = "auto",
    ) -> None:
        super().__init__()
        if weight_packed.dim() != 4 or weight_packed.dtype != torch.int32:
            raise ValueError(
                f"weight_packed must be 4-D int32 from pack_weights; got {weight_packed.dtype} "
                f"of shape {tuple(weight_packed.shape)}"
            )
        cout = weight_packed.shape[0]
        if groups < 1 or in_channels % groups or cout % groups:
            raise ValueError(
                f"groups={groups} must divide in_channels={in_channels} and out_channels={cout}"
            )
        if weight_packed.shape[-1] != num_words(in_channels // groups):
            raise ValueError(
                f"weight_packed has {weight_packed.shape[-1]} words; in_channels={in_channels} "
                f"with groups={groups} needs {num_words(in_channels // groups)}"
            )
        if threshold is not None and tuple(threshold.shape) != (in_channels,):
            raise ValueError(
                f"threshold has shape {tuple(threshold.shape)}; a stored threshold is per input "
                f"channel ({in_channels},) (pass per-sample ones to forward)"
            )
        choose_impl(impl, 1, 1)  # validates the name only
        self.in_channels = in_channels
        self.out_channels = cout
        self.kernel_size = (weight_packed.shape[1], weight_packed.shape[2])
        self.stride = stride
        self.padding = padding
        self.groups = groups
        self.out_dtype = out_dtype
        self.impl = impl
        self.backend = backend
        self.register_buffer("weight_packed", weight_packed.contiguous())
        self.register_buffer("scale", None if scale is None else scale.detach().float())
        self.register_buffer("bias", None if bias is None else bias.detach().float())
        self.register_buffer("threshold", None if threshold is None else threshold.detach().float())

    @classmethod
    def from_float(
        cls,
        weight: torch.Tensor,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        groups: int = 1,
        scale: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
        threshold: torch.Tensor | None = None,
        **kwargs,
    ) -> PackedBinaryConv2d:
        """Pack real weights (C_out, C_in/groups, kh, kw) by sign (w >= 0 -> +1) once."""
        packed = pack_weights(weight.detach())
        return cls(
            packed,
            weight.shape[1] * groups,
            stride,
            padding,
            groups,
            scale,
            bias,
            threshold,
            **kwargs,
        )

    def forward(
        self,
        x: torch.Tensor,
        threshold: torch.Tensor | None = None,
        sample_scale: torch.Tensor | None = None,
        residual: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Binarize-and-pack x (runtime threshold (C,) or (N, C) overrides the stored one), conv."""
        t = self.threshold if threshold is None else threshold
        out_dtype = self.out_dtype or (
            x.dtype if x.dtype in (torch.float16, torch.bfloat16) else torch.float32
        )
        if self.backend == "float":
            return self._forward_float(x, t, sample_scale, residual, out_dtype)
        if resolve_backend(self.backend, x.device) == "cpu":
            return self._forward_cpu(x, t, sample_scale, residual, out_dtype)
        x_packed = binarize_pack(x, t, self.groups, backend=self.backend)
        return packed_conv2d(
            x_packed,
            self.weight_packed,
            self.in_channels,
            self.stride,
            self.padding,
            self.groups,
            scale=self.scale,
            bias=self.bias,
            sample_scale=sample_scale,
            residual=residual,
            out_dtype=out_dtype,
            impl=self.impl,
            backend=self.backend,
        )

    def _derived(self, name: str, key: tuple, build: Callable[[], Any]) -> Any:
        """`build()`, cached under `name` until `key` (the weights' identity and version) changes;
        kept out of the state dict and of pickles (see __getstate__)."""
        cached = self.__dict__.get(name)
        if cached is None or cached[0] != key:
            cached = (key, build())
            self.__dict__[name] = cached
        return cached[1]

    def _weights_key(self) -> tuple:
        w = self.weight_packed
        return (w.data_ptr(), w._version, tuple(w.shape))

    def _cpu_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The weights in the CPU kernels' 64-bit layout, prepacked once (again if they change)."""
        return self._derived("_cpu_cache", self._weights_key(),
                             lambda: cpu.prepack_weights(self.weight_packed, self.in_channels // self.groups))

    def _forward_cpu(
        self,
        x: torch.Tensor,
        threshold: torch.Tensor | None,
        sample_scale: torch.Tensor | None,
        residual: torch.Tensor | None,
        out_dtype: torch.dtype,
    ) -> torch.Tensor:
        """Pack, conv and epilogue in one call of the CPU kernels (same checks as packed_conv2d)."""
        if x.dim() != 4:
            raise ValueError(f"x must be 4-D (N, C, H, W); got shape {tuple(x.shape)}")
        n, c = x.shape[:2]
        if c != self.in_channels:
            raise ValueError(f"x has {c} channels; this layer takes {self.in_channels}")
        if threshold is not None:
            check_threshold(threshold, n, c)
        kh, kw = self.kernel_size
        stride, padding, _, _, _ = check_conv(
            (n, x.shape[2], x.shape[3]), c, self.out_channels, c // self.groups, (kh, kw),
            self.stride, self.padding, self.groups, self.scale, self.bias, sample_scale, residual,
            out_dtype, self.impl, x.device,
        )
        return cpu.conv2d_float(
            x, self._cpu_weights(), stride, padding, self.groups, threshold=threshold,
            scale=self.scale, bias=self.bias, sample_scale=sample_scale, residual=residual,
            out_dtype=out_dtype,
        )

    def _float_weights(self, folded: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """±1 weights as floats (times scale[c] if `folded`) and the bias, derived once."""

        def build() -> tuple[torch.Tensor, torch.Tensor | None]:
            w = self.weight_packed
            signs = unpack_weights(w, self.in_channels // self.groups).to(w.device)
            if folded and self.scale is not None:
                signs = signs * self.scale.view(-1, 1, 1, 1)
            return signs, self.bias if folded else None

        scale_version = None if self.scale is None else self.scale._version
        return self._derived("_float_cache", (*self._weights_key(), folded, scale_version), build)

    def _forward_float(
        self,
        x: torch.Tensor,
        threshold: torch.Tensor | None,
        sample_scale: torch.Tensor | None,
        residual: torch.Tensor | None,
        out_dtype: torch.dtype,
    ) -> torch.Tensor:
        """The float baseline: F.conv2d on sign(x - t) with scale and bias folded into the conv."""
        xf = x.float()
        t = torch.zeros((), device=x.device)
        if threshold is not None:
            check_threshold(threshold, xf.shape[0], xf.shape[1])
            t = threshold.float().reshape(-1 if threshold.dim() == 2 else 1, xf.shape[1], 1, 1)
        s = torch.where(xf >= t, 1.0, -1.0)  # the packed bits, as floats
        folded = sample_scale is None
        weight, bias = self._float_weights(folded)
        y = F.conv2d(s, weight, bias, self.stride, self.padding, 1, self.groups)
        if not folded:  # a per-sample scale sits between the conv and the bias
            y = epilogue_reference(y, self.scale, self.bias, sample_scale, None, torch.float32)
        if residual is not None:
            y = y + residual.float()
        return y.to(out_dtype)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for name in ("_cpu_cache", "_float_cache"):  # derived from the buffers; rebuilt on demand
            state.pop(name, None)
        return state

    def weight_bytes(self) -> int:
        """Bytes of the packed 1-bit weights (word padding included; scale/bias not counted)."""
        return self.weight_packed.numel() * self.weight_packed.element_size()

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, groups={self.groups}, impl={self.impl}"
        )
