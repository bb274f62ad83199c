"""MobileNet V3 (Howard et al. 2019) with every conv a block slot: the 32-bit reference, the
ReActNet rows with and without broadcast residuals and BD-Net-B (Kim et al. 2025, Table 5).
The layer table is torchvision's (`_mobilenet_v3_conf`), so the widths and the width
multiplier's rounding are the library's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn
from torchvision.models._utils import _make_divisible
from torchvision.models.mobilenetv3 import InvertedResidualConfig, _mobilenet_v3_conf
from torchvision.ops import SqueezeExcitation

from bnnbench.blocks.conv import BinarizerLike
from bnnbench.models import MODELS
from bnnbench.models.cls_common import BlockChoice, expanded_stem, is_cifar_size
from bnnbench.models.layers import Readout, activation_layer
from bnnbench.models.shufflenet import separate_slots, unit_residual

VARIANTS = ("large", "small")
BlockLike = str | Mapping[str, Any]


class ReplicaSE(nn.Module):
    """Squeeze-and-excitation (real valued, torchvision's, hard-sigmoid gate) computed on the
    mean of the ES replicas and applied to each: one gate per base channel, so its FLOPs do
    not grow with the expansion."""

    def __init__(self, channels: int, squeeze: int, expansion: int) -> None:
        super().__init__()
        self.expansion = expansion
        self.se = SqueezeExcitation(channels, squeeze, scale_activation=nn.Hardsigmoid)

    def forward(self, x: Tensor) -> Tensor:
        if self.expansion == 1:
            return self.se(x)
        n, c, h, w = x.shape
        base = x.reshape(n, self.expansion, c // self.expansion, h, w).mean(1)
        gate = self.se.scale_activation(self.se.fc2(self.se.activation(self.se.fc1(self.se.avgpool(base)))))
        return x * gate.repeat(1, self.expansion, 1, 1)


class InvertedResidual(nn.Module):
    """MobileNet V3 bneck: [1x1 expand -> act] -> kxk depth-wise (stride s) -> act -> [SE] ->
    1x1 project, + x when the stride is 1 and the width unchanged."""

    def __init__(
        self, block: BlockChoice, cnf: InvertedResidualConfig, act: str, real_strided_dw: bool, regular_dw: bool,
        residual: bool = True,
    ) -> None:
        super().__init__()
        kind = nn.Hardswish if cnf.use_hs else nn.ReLU
        one = separate_slots(block)
        cin, mid, cout, k, s = cnf.input_channels, cnf.expanded_channels, cnf.out_channels, cnf.kernel, cnf.stride
        layers: list[nn.Module] = []
        if mid != cin:
            layers += [block(cin, mid, 1, 1, 0, **one), activation_layer(act, block, kind)]
        real = {"real_dw": True} if real_strided_dw and s > 1 else {}
        layers += [block(mid, mid, k, s, (k - 1) // 2, groups=1 if regular_dw else mid, **one, **real),
                   activation_layer(act, block, kind)]
        if cnf.use_se:
            layers.append(ReplicaSE(mid, _make_divisible(mid // 4, 8), block.expansion))  # torchvision's
        layers.append(block(mid, cout, 1, 1, 0, **one))
        self.body = nn.Sequential(*layers)
        self.residual = residual and s == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetV3(nn.Module):
    """Real 3x3 stem conv + BN + h-swish (stride 2, or 1 for CIFAR-sized inputs), the bnecks,
    a last 1x1 conv slot (6x the last width) + act, then average pool and a real classifier
    Linear -> h-swish -> Linear (torchvision's head, without dropout). `residual`: the bnecks'
    identity shortcut (None: only for blocks without their own, see `unit_residual`)."""

    def __init__(
        self,
        block: BlockChoice,
        setting: Sequence[InvertedResidualConfig],
        last_channel: int,
        num_classes: int,
        in_channels: int,
        stem_stride: int,
        act: str,
        readout: str,
        real_strided_dw: bool = False,
        regular_dw: bool = False,
        residual: bool | None = None,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        e = block.expansion
        stem = setting[0].input_channels
        self.stem = expanded_stem(nn.Conv2d(in_channels, stem, 3, stem_stride, 1, bias=False), stem, e)
        self.stem.append(activation_layer(act, block, nn.Hardswish))
        residual = unit_residual(residual, block)
        self.features = nn.Sequential(
            *(InvertedResidual(block, cnf, act, real_strided_dw, regular_dw, residual) for cnf in setting)
        )
        cin = setting[-1].out_channels
        self.last = nn.Sequential(block(cin, 6 * cin, 1, 1, 0, **separate_slots(block)),
                                  activation_layer(act, block, nn.Hardswish))
        self.head = nn.Sequential(
            Readout(6 * cin, e, readout), nn.AdaptiveAvgPool2d(1), nn.Flatten(1),
            nn.Linear(6 * cin, last_channel), nn.Hardswish(), nn.Linear(last_channel, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.last(self.features(self.stem(x))))


def _mobilenet_v3(
    natural: str,
    block: BlockLike | None,
    binarizer: BinarizerLike,
    num_classes: int,
    in_channels: int,
    input_size: Sequence[int],
    variant: str,
    width_mult: float,
    stem_stride: int | None,
    act: str,
    readout: str,
    real_strided_dw: bool = False,
    regular_dw: bool = False,
    residual: bool | None = None,
) -> MobileNetV3:
    if variant not in VARIANTS:
        raise ValueError(f"mobilenet_v3 variant must be one of {VARIANTS}, got {variant!r}")
    if width_mult <= 0:
        raise ValueError(f"width_mult must be > 0, got {width_mult}")
    setting, last_channel = _mobilenet_v3_conf(f"mobilenet_v3_{variant}", width_mult=width_mult)
    choice = BlockChoice(block if block is not None else natural, binarizer, natural)
    if stem_stride is None:
        stem_stride = 1 if is_cifar_size(input_size) else 2
    return MobileNetV3(choice, setting, last_channel, num_classes, in_channels, stem_stride, act, readout,
                       real_strided_dw, regular_dw, residual)


@MODELS.register("mobilenet_v3", output="vector", natural_block="plain", any_width_ratio=True)
def mobilenet_v3(
    block: BlockLike | None = "plain",
    binarizer: BinarizerLike = "fp",
    num_classes: int = 1000,
    in_channels: int = 3,
    input_size: Sequence[int] = (224, 224),
    variant: str = "large",
    width_mult: float = 1.0,
    stem_stride: int | None = None,
    act: str = "auto",
    readout: str = "first",
    regular_dw: bool = False,
    unit_residual: bool | None = None,
) -> MobileNetV3:
    """MobileNet V3, 32-bit by default (block plain, binarizer fp). block=reactnet
    binarizer=reactnet regular_dw=True is BD-Net Table 5's ReActNet row (block.br=true: w/ br)."""
    return _mobilenet_v3("plain", block, binarizer, num_classes, in_channels, input_size, variant, width_mult,
                         stem_stride, act, readout, regular_dw=regular_dw, residual=unit_residual)


@MODELS.register("mobilenet_v3_bdnet_b", output="vector", natural_block="bdnet", block_option="real_dw",
                 any_width_ratio=True)
def mobilenet_v3_bdnet_b(
    block: BlockLike | None = "bdnet",
    binarizer: BinarizerLike = "reactnet",
    num_classes: int = 1000,
    in_channels: int = 3,
    input_size: Sequence[int] = (224, 224),
    variant: str = "large",
    width_mult: float = 1.0,
    stem_stride: int | None = None,
    act: str = "auto",
    readout: str = "first",
    unit_residual: bool | None = None,
) -> MobileNetV3:
    """BD-Net-B on MobileNet V3 (BD-Net Table 5, "ReActNet w/ br"): binary 1.58-bit depth-wise
    convs with pre-BN residuals, binary point-wise convs with broadcast residuals, the stride-2
    depth-wise convs real."""
    return _mobilenet_v3("bdnet", block, binarizer, num_classes, in_channels, input_size, variant, width_mult,
                         stem_stride, act, readout, real_strided_dw=True, residual=unit_residual)
