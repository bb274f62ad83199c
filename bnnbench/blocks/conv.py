"""BinaryConv2d: the one primitive every block is built from (binarizer + weight binarizer + conv)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bnnbench.binarizers import BinarizerSpec

BinarizerLike = BinarizerSpec | str | Mapping[str, Any]


def check_channels(in_ch: int, out_ch: int, groups: int) -> None:
    """Raise a ValueError naming the numbers when a grouped conv is impossible."""
    if in_ch < 1 or out_ch < 1 or groups < 1:
        raise ValueError(f"channels and groups must be >= 1, got in={in_ch}, out={out_ch}, groups={groups}")
    if in_ch % groups or out_ch % groups:
        raise ValueError(
            f"groups={groups} must divide both in_channels={in_ch} and out_channels={out_ch}"
        )


class BinaryConv2d(nn.Conv2d):
    """A Conv2d whose input goes through an activation binarizer and whose weight through a
    weight binarizer, both chosen by `binarizer` (a name or a BinarizerSpec).

    `binary` is True when the conv runs on bits (both sides 1-bit): cost counting reads it as
    BOPs and export packs such convs. With `binarizer="fp"` this is an ordinary Conv2d.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        groups: int = 1,
        binarizer: BinarizerLike = "fp",
        bias: bool | None = None,
        dilation: int = 1,
    ) -> None:
        check_channels(in_channels, out_channels, groups)
        spec = BinarizerSpec.of(binarizer)
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
            bias=spec.conv_bias if bias is None else bias,
        )
        self.spec = spec
        self.binary = spec.binary
        self.binarizer = spec.activation(in_channels)
        self.pad_value = spec.pad_value  # padding of the binarized input (BiDet: -1, not 0)
        # exact only for binarizers with two output levels per (sample, channel)
        self.compact_saved_input = getattr(self.binarizer, "levels_per_channel", 0) == 2
        self.symmetric_levels = bool(getattr(self.binarizer, "symmetric_levels", False))
        self.weight_binarizer = spec.weight_binarizer()
        # the method declares its init (ReActNet uniform [0, 1e-3), BiDense normal(1e-3), ...);
        # weight binarizers with per-output-channel state (a learned scale) size it afterwards
        self.binarizer.init_weight(self.weight)
        self.weight_binarizer.bind(self.weight)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, binarizer={self.spec.name}, weight={self.spec.weight_name}"

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:  # binarizer statistics are per sample: a batch dimension is needed
            raise ValueError(f"BinaryConv2d expects (N, C, H, W) input, got shape {tuple(x.shape)}")
        xb = self.binarizer(x)
        wb = self.weight_binarizer(self.weight)
        if self.pad_value and any(self.padding):
            ph, pw = self.padding
            xb = F.pad(xb, (pw, pw, ph, ph), value=self.pad_value)
            return F.conv2d(xb, wb, self.bias, self.stride, 0, self.dilation, self.groups)
        if not (self.binary and self.compact_saved_input and torch.is_grad_enabled() and xb.requires_grad):
            return self._conv_forward(xb, wb, self.bias)
        with torch.autograd.graph.saved_tensors_hooks(*_two_level_hooks(xb, self.symmetric_levels)):
            return self._conv_forward(xb, wb, self.bias)


def _two_level_hooks(xb: Tensor, symmetric: bool) -> tuple[Callable[[Tensor], Any], Callable[[Any], Tensor]]:
    """Saved-tensor hooks storing the conv's binarized input as one byte per element.

    A binarized activation takes at most two values per (sample, channel), so it is kept as a
    bool plus the two (N, C, 1, 1) levels and rebuilt exactly for the weight gradient; a float
    copy would make a binary layer hold a quarter more activation memory than a real one.
    With symmetric levels (+-s per plane) one pass finds the bits and s is read off any pixel.
    """

    def pack(t: Tensor) -> Any:
        if t.shape != xb.shape or t.data_ptr() != xb.data_ptr():
            return t
        t = t.detach()
        if symmetric:
            hi = t[:, :, :1, :1].abs()
            return t > 0, hi, -hi
        lo, hi = torch.aminmax(t.flatten(2), dim=2)
        hi, lo = hi[..., None, None], lo[..., None, None]
        return t == hi, hi, lo

    def unpack(packed: Any) -> Tensor:
        if isinstance(packed, Tensor):
            return packed
        is_hi, hi, lo = packed
        return torch.where(is_hi, hi, lo)

    return pack, unpack
