"""Dense prediction heads: 3x3 conv -> ReLU -> real 1x1 (logits, or sigmoid * max_depth)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bnnbench.models.layers import ConvFactory

TASKS = ("seg", "depth")


def check_task(task: str, num_classes: int | None, max_depth: float) -> int:
    """Validate the dense task arguments and return the number of output channels."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if task == "seg":
        if num_classes is None or num_classes < 1:
            raise ValueError(f"task='seg' needs num_classes >= 1, got {num_classes}")
        return num_classes
    if not max_depth > 0:
        raise ValueError(f"task='depth' needs max_depth > 0, got {max_depth}")
    return 1


class DenseHead(nn.Module):
    """conv3x3 (from `make_conv`) -> ReLU -> real 1x1; depth maps the 1x1 through sigmoid * max_depth.

    The BiDense code's heads (from DPT): seg 128 -> 128 -> classes, depth 128 -> 32 -> 1.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        make_conv: ConvFactory,
        max_depth: float | None = None,
    ) -> None:
        super().__init__()
        self.conv = make_conv(in_channels, hidden_channels, 3, 1, 1)
        self.act = nn.ReLU()
        self.classifier = nn.Conv2d(hidden_channels, out_channels, 1)
        self.max_depth = max_depth

    def forward(self, x: Tensor) -> Tensor:
        out = self.classifier(self.act(self.conv(x)))
        return out if self.max_depth is None else torch.sigmoid(out) * self.max_depth
