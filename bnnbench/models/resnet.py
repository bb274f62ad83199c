"""ResNet classifiers in the Bi-Real layout: ResNet-18 (ImageNet stem) and ResNet-20 (CIFAR)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from bnnbench.blocks.conv import BinarizerLike
from bnnbench.models import MODELS
from bnnbench.models.cls_common import (
    BlockChoice,
    ClassifierHead,
    expanded_stem,
    is_cifar_size,
    scale_widths,
)
from bnnbench.models.layers import activation_layer

BlockLike = str | Mapping[str, Any]


class ResNet(nn.Module):
    """Real stem, then per stage `depths[i]` basic blocks of two 3x3 conv slots, each slot a
    block with its own shortcut (`bireal`: BN(conv(B(x))) + x, downsampling by AvgPool2 ->
    real 1x1 -> BN), average pool and a real FC.

    With a real-valued binarizer (fp) a ReLU follows each slot (conv -> BN -> + shortcut -> ReLU,
    He et al. 2016's order), so the 32-bit reference is not a linear network.

    Stem: 7x7/s2 conv + BN + 3x3/s2 max-pool (ImageNet), or 3x3/s1 conv + BN (CIFAR-sized
    inputs). The first stage keeps the stem's width and size; later stages halve the size.
    """

    def __init__(
        self,
        block: BlockChoice,
        widths: Sequence[int],
        depths: Sequence[int],
        num_classes: int,
        in_channels: int,
        imagenet_stem: bool,
        readout: str = "first",
    ) -> None:
        super().__init__()
        if len(widths) != len(depths) or not widths:
            raise ValueError(f"widths and depths need one entry per stage, got {list(widths)} and {list(depths)}")
        if any(d < 1 for d in depths):
            raise ValueError(f"depths must be >= 1, got {list(depths)}")
        block.plan([2 * d for d in depths])  # per-stage / per-layer block options (ES-BNN Table 8)
        e = block.expansion
        k, s, p = (7, 2, 3) if imagenet_stem else (3, 1, 1)
        self.stem = expanded_stem(nn.Conv2d(in_channels, widths[0], k, s, p, bias=False), widths[0], e)
        if imagenet_stem:
            self.stem.append(nn.MaxPool2d(3, 2, 1))
        convs: list[nn.Module] = []
        cin = widths[0]
        for i, (width, depth) in enumerate(zip(widths, depths)):
            for j in range(2 * depth):
                stride = 2 if i > 0 and j == 0 else 1
                convs.append(block(cin, width, 3, stride, 1))
                cin = width
        self.features = nn.Sequential(*convs)
        # ReLU after each slot for the 32-bit reference (binarizer fp), whose identity "binarizer"
        # would otherwise leave the network linear; nothing for binary ones (sign() is theirs)
        self.act = activation_layer("auto", block)
        self.head = ClassifierHead(widths[-1], num_classes, block.final_expansion, readout)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        for slot in self.features:
            x = self.act(slot(x))
        return self.head(x)


def _resnet(
    block: BlockLike | None,
    binarizer: BinarizerLike,
    num_classes: int,
    in_channels: int,
    input_size: Sequence[int],
    widths: Sequence[int],
    depths: Sequence[int],
    width_mult: float,
    imagenet_stem: bool | None,
    readout: str,
) -> ResNet:
    choice = BlockChoice(block if block is not None else "bireal", binarizer, "bireal")
    if imagenet_stem is None:
        imagenet_stem = not is_cifar_size(input_size)
    return ResNet(choice, scale_widths(widths, width_mult), depths, num_classes, in_channels, imagenet_stem, readout)


@MODELS.register("resnet18", output="vector", natural_block="bireal")
def resnet18(
    block: BlockLike | None = "bireal",
    binarizer: BinarizerLike = "reactnet",
    num_classes: int = 1000,
    in_channels: int = 3,
    input_size: Sequence[int] = (224, 224),
    widths: Sequence[int] = (64, 128, 256, 512),
    depths: Sequence[int] = (2, 2, 2, 2),
    width_mult: float = 1.0,
    imagenet_stem: bool | None = None,
    readout: str = "first",
) -> ResNet:
    """ResNet-18 in the Bi-Real layout (16 binary 3x3 convs, each with a shortcut)."""
    return _resnet(block, binarizer, num_classes, in_channels, input_size, widths, depths, width_mult, imagenet_stem, readout)


@MODELS.register("resnet20", output="vector", natural_block="bireal")
def resnet20(
    block: BlockLike | None = "bireal",
    binarizer: BinarizerLike = "reactnet",
    num_classes: int = 10,
    in_channels: int = 3,
    input_size: Sequence[int] = (32, 32),
    widths: Sequence[int] = (16, 32, 64),
    depths: Sequence[int] = (3, 3, 3),
    width_mult: float = 1.0,
    imagenet_stem: bool | None = None,
    readout: str = "first",
) -> ResNet:
    """ResNet-20 for CIFAR (He et al. 2016) in the Bi-Real layout: 18 binary 3x3 convs."""
    return _resnet(block, binarizer, num_classes, in_channels, input_size, widths, depths, width_mult, imagenet_stem, readout)
