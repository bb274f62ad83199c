"""Pieces the classification architectures share: input-size rules, widths, stems, the head."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from bnnbench.models.layers import READOUTS, BlockChoice, Expand, Readout, expanded_stem

CIFAR_MAX_SIZE = 64  # inputs up to this size get the CIFAR stems (stride 1, no max-pool)


def is_cifar_size(input_size: Sequence[int]) -> bool:
    """Whether an (H, W) input takes the CIFAR stem (<= 64 px on both sides)."""
    if len(input_size) != 2 or min(input_size) < 1:
        raise ValueError(f"input_size must be (H, W) with positive sides, got {tuple(input_size)}")
    return max(input_size) <= CIFAR_MAX_SIZE


def scale_widths(widths: Sequence[int], width_mult: float) -> list[int]:
    """Widths times `width_mult`, rounded, at least 1 (narrow variants for tests and sweeps)."""
    if width_mult <= 0:
        raise ValueError(f"width_mult must be > 0, got {width_mult}")
    return [max(1, int(round(w * width_mult))) for w in widths]


HEAD_READOUTS = (*READOUTS, "full")  # full: the classifier reads every replica (ES-BNN Table 6's FC)


class ClassifierHead(nn.Module):
    """Readout of the base width of expanded features -> global average pool -> real Linear.

    `readout="full"` instead feeds the classifier the whole expanded width (channels x
    expansion inputs), as ES-BNN's ImageNet ResNet-18 does: its Table 6 FC FLOPs grow from
    0.005e8 (512 x 1000) to 0.041e8 (8 x 512 x 1000, tau*g = 8 in the last layer).
    """

    def __init__(self, channels: int, num_classes: int, expansion: int = 1, readout: str = "first") -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if readout not in HEAD_READOUTS:
            raise ValueError(f"readout must be one of {HEAD_READOUTS}, got {readout!r}")
        full = readout == "full"
        self.readout = nn.Identity() if full else Readout(channels, expansion, readout)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels * expansion if full else channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.readout(x)).flatten(1))


__all__ = [
    "BlockChoice",
    "ClassifierHead",
    "Expand",
    "expanded_stem",
    "is_cifar_size",
    "scale_widths",
]
