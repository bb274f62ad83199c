"""MobileNetV1-layout classifiers: ReActNet-A, BD-Net-A/B and the 32-bit MobileNetV1."""

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

# stem width, then one entry per layer (ReActNet-A / MobileNetV1)
MOBILENET_WIDTHS: tuple[int, ...] = (32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)
BlockLike = str | Mapping[str, Any]


def default_strides(widths: Sequence[int]) -> list[int]:
    """Stride 2 where the width changes, except into the first layer (32 -> 64 keeps the size)."""
    return [1] + [2 if widths[i] != widths[i - 1] else 1 for i in range(2, len(widths))]


def _layout(
    widths: Sequence[int], strides: Sequence[int] | None, width_mult: float, input_size: Sequence[int], stem_stride: int | None
) -> tuple[list[int], list[int], int]:
    widths = scale_widths(widths, width_mult)
    if len(widths) < 2:
        raise ValueError(f"widths needs the stem width and at least one layer, got {widths}")
    strides = list(strides) if strides is not None else default_strides(widths)
    if len(strides) != len(widths) - 1:
        raise ValueError(f"strides needs one entry per layer ({len(widths) - 1}), got {len(strides)}")
    if stem_stride is None:
        stem_stride = 1 if is_cifar_size(input_size) else 2
    return widths, strides, stem_stride


class MobileNetV1Binary(nn.Module):
    """Real 3x3 stem conv + BN (stride 2, or 1 for CIFAR-sized inputs), one block per layer
    (`block(C_in, C_out, 3, stride, 1)`: a whole binary layer, e.g. reactnet or bdnet), average
    pool and a real FC. Features between layers are `expansion` times the base width.

    `real_strided_dw`: stride-2 layers get `real_dw=True` (BD-Net-B).
    """

    def __init__(
        self,
        block: BlockChoice,
        widths: Sequence[int],
        strides: Sequence[int],
        num_classes: int,
        in_channels: int,
        stem_stride: int,
        readout: str = "first",
        real_strided_dw: bool = False,
    ) -> None:
        super().__init__()
        e = block.expansion
        self.stem = expanded_stem(nn.Conv2d(in_channels, widths[0], 3, stem_stride, 1, bias=False), widths[0], e)
        layers = []
        for cin, cout, s in zip(widths[:-1], widths[1:], strides):
            extra = {"real_dw": True} if real_strided_dw and s > 1 else {}
            layers.append(block(cin, cout, 3, s, 1, **extra))
        self.features = nn.Sequential(*layers)
        self.head = ClassifierHead(widths[-1], num_classes, e, readout)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(self.stem(x)))


def _binary_mobilenet(
    natural: str,
    block: BlockLike | None,
    binarizer: BinarizerLike,
    num_classes: int,
    in_channels: int,
    input_size: Sequence[int],
    widths: Sequence[int],
    strides: Sequence[int] | None,
    width_mult: float,
    stem_stride: int | None,
    readout: str,
    real_strided_dw: bool = False,
) -> MobileNetV1Binary:
    widths, strides, stem_stride = _layout(widths, strides, width_mult, input_size, stem_stride)
    choice = BlockChoice(block if block is not None else natural, binarizer, natural)
    return MobileNetV1Binary(choice, widths, strides, num_classes, in_channels, stem_stride, readout, real_strided_dw)


@MODELS.register("reactnet_a", output="vector", natural_block="reactnet")
def reactnet_a(
    block: BlockLike | None = "reactnet",
    binarizer: BinarizerLike = "reactnet",
    num_classes: int = 1000,
    in_channels: int = 3,
    input_size: Sequence[int] = (224, 224),
    widths: Sequence[int] = MOBILENET_WIDTHS,
    strides: Sequence[int] | None = None,
    width_mult: float = 1.0,
    stem_stride: int | None = None,
    readout: str = "first",
) -> MobileNetV1Binary:
    """ReActNet-A (Liu et al. 2020): MobileNetV1 layout, binary 3x3 regular convs + 1x1 convs."""
    return _binary_mobilenet(
        "reactnet", block, binarizer, num_classes, in_channels, input_size, widths, strides, width_mult, stem_stride, readout
    )


@MODELS.register("bdnet_a", output="vector", natural_block="bdnet")
def bdnet_a(
    block: BlockLike | None = "bdnet",
    binarizer: BinarizerLike = "reactnet",
    num_classes: int = 1000,
    in_channels: int = 3,
    input_size: Sequence[int] = (224, 224),
    widths: Sequence[int] = MOBILENET_WIDTHS,
    strides: Sequence[int] | None = None,
    width_mult: float = 1.0,
    stem_stride: int | None = None,
    readout: str = "first",
) -> MobileNetV1Binary:
    """BD-Net-A (Kim et al. 2025): ReActNet-A with binary 1.58-bit depth-wise 3x3 convs and
    pre-BN residuals instead of the binary 3x3 regular convs."""
    return _binary_mobilenet(
        "bdnet", block, binarizer, num_classes, in_channels, input_size, widths, strides, width_mult, stem_stride, readout
    )


@MODELS.register("bdnet_b", output="vector", natural_block="bdnet", block_option="real_dw")
def bdnet_b(
    block: BlockLike | None = "bdnet",
    binarizer: BinarizerLike = "reactnet",
    num_classes: int = 1000,
    in_channels: int = 3,
    input_size: Sequence[int] = (224, 224),
    widths: Sequence[int] = MOBILENET_WIDTHS,
    strides: Sequence[int] | None = None,
    width_mult: float = 1.0,
    stem_stride: int | None = None,
    readout: str = "first",
) -> MobileNetV1Binary:
    """BD-Net-B: BD-Net-A whose stride-2 depth-wise convs stay real valued."""
    return _binary_mobilenet(
        "bdnet", block, binarizer, num_classes, in_channels, input_size, widths, strides, width_mult,
        stem_stride, readout, real_strided_dw=True,
    )


class MobileNetV1(nn.Module):
    """MobileNetV1 (Howard et al. 2017): per layer a depth-wise 3x3 and a point-wise 1x1 conv,
    each a block followed by `act`; real stem and FC. With block plain and binarizer fp it is
    the 32-bit reference (conv -> BN -> ReLU)."""

    def __init__(
        self,
        block: BlockChoice,
        widths: Sequence[int],
        strides: Sequence[int],
        num_classes: int,
        in_channels: int,
        stem_stride: int,
        act: str = "relu",
        readout: str = "first",
    ) -> None:
        super().__init__()
        if act not in ("relu", "none"):
            raise ValueError(f"mobilenet_v1 act must be one of ('relu', 'none'), got {act!r}")
        relu = act == "relu"
        e = block.expansion
        self.stem = expanded_stem(nn.Conv2d(in_channels, widths[0], 3, stem_stride, 1, bias=False), widths[0], e, act=relu)
        layers: list[nn.Module] = []
        for cin, cout, s in zip(widths[:-1], widths[1:], strides):
            layers.append(block(cin, cin, 3, s, 1, groups=cin))
            layers.append(nn.ReLU(inplace=True) if relu else nn.Identity())
            layers.append(block(cin, cout, 1, 1, 0))
            layers.append(nn.ReLU(inplace=True) if relu else nn.Identity())
        self.features = nn.Sequential(*layers)
        self.head = ClassifierHead(widths[-1], num_classes, e, readout)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(self.stem(x)))


@MODELS.register("mobilenet_v1", output="vector", natural_block="plain")
def mobilenet_v1(
    block: BlockLike | None = "plain",
    binarizer: BinarizerLike = "fp",
    num_classes: int = 1000,
    in_channels: int = 3,
    input_size: Sequence[int] = (224, 224),
    widths: Sequence[int] = MOBILENET_WIDTHS,
    strides: Sequence[int] | None = None,
    width_mult: float = 1.0,
    stem_stride: int | None = None,
    act: str = "relu",
    readout: str = "first",
) -> MobileNetV1:
    """MobileNetV1, 32-bit by default (block plain, binarizer fp): the reference of BD-Net Table 2."""
    widths, strides, stem_stride = _layout(widths, strides, width_mult, input_size, stem_stride)
    choice = BlockChoice(block if block is not None else "plain", binarizer, "plain")
    return MobileNetV1(choice, widths, strides, num_classes, in_channels, stem_stride, act, readout)
