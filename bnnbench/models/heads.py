"""Dense prediction heads: 3x3 conv -> ReLU -> real 1x1 (logits, or sigmoid * max_depth)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bnnbench.models.layers import ConvFactory, Readout

HEAD_KINDS = ("logits", "depth")


def check_head(head_kind: str, out_channels: int, max_depth: float | None) -> None:
    """Validate what a dense model is asked to output."""
    if head_kind not in HEAD_KINDS:
        raise ValueError(f"head_kind must be one of {HEAD_KINDS}, got {head_kind!r}")
    if out_channels < 1:
        raise ValueError(f"out_channels must be >= 1, got {out_channels}")
    if head_kind == "depth" and not (max_depth is not None and max_depth > 0):
        raise ValueError(f"head_kind='depth' needs max_depth > 0, got {max_depth}")


class DenseHead(nn.Module):
    """conv3x3 (from `make_conv`) -> ReLU -> readout of the base width -> real 1x1; a depth
    head maps the 1x1 through sigmoid * max_depth.

    The BiDense code's heads (from DPT): seg 128 -> 128 -> classes, depth 128 -> 32 -> 1.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        make_conv: ConvFactory,
        max_depth: float | None = None,
        readout: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.conv = make_conv(in_channels, hidden_channels, 3, 1, 1)
        self.act = nn.ReLU()
        self.readout = readout if readout is not None else nn.Identity()
        self.classifier = nn.Conv2d(hidden_channels, out_channels, 1)
        self.max_depth = max_depth

    def forward(self, x: Tensor) -> Tensor:
        out = self.classifier(self.readout(self.act(self.conv(x))))
        return out if self.max_depth is None else torch.sigmoid(out) * self.max_depth


__all__ = ["HEAD_KINDS", "DenseHead", "Readout", "check_head"]
