"""ShuffleNet V1 (Zhang et al. 2018) with every conv a block slot: the 32-bit reference, the
ReActNet rows with and without broadcast residuals and BD-Net-B (Kim et al. 2025, Table 4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from bnnbench.blocks.conv import BinarizerLike
from bnnbench.models import MODELS
from bnnbench.models.cls_common import BlockChoice, ClassifierHead, expanded_stem, is_cifar_size
from bnnbench.models.layers import activation_layer, replica_cat

# ShuffleNet V1 Table 1: output widths of stages 2-4 for each number of groups g (1x)
STAGE_WIDTHS: dict[int, tuple[int, int, int]] = {
    1: (144, 288, 576), 2: (200, 400, 800), 3: (240, 480, 960), 4: (272, 544, 1088), 8: (384, 768, 1536),
}
STEM_WIDTH = 24
BlockLike = str | Mapping[str, Any]


def channel_shuffle(x: Tensor, groups: int, expansion: int = 1) -> Tensor:
    """ShuffleNet's channel shuffle within each replica of (ES-expanded) features:
    (e, g, C/g) -> (e, C/g, g) along channels."""
    n, c, h, w = x.shape
    per = c // expansion
    return x.reshape(n, expansion, groups, per // groups, h, w).transpose(2, 3).reshape(n, c, h, w)


def separate_slots(block: BlockChoice) -> dict[str, Any]:
    """The override that makes a two-conv block (reactnet, bdnet) one conv per slot, since
    these networks have their own point-wise convs."""
    return {"separable": False} if block.accepts("separable") else {}


def unit_residual(choice: bool | None, block: BlockChoice) -> bool:
    """Whether a unit keeps its own identity shortcut: `None` means only when its block has no
    residual of its own (plain). Blocks with per-conv residuals (reactnet, bdnet, bireal, ...)
    replace it, as Bi-Real's per-conv shortcuts replace ResNet's: both together add x twice per
    unit and the features grow 2x per unit (measured: std x8000 over ShuffleNet's 16 units)."""
    if choice is not None:
        return bool(choice)
    return not block.has_bypass


class ShuffleUnit(nn.Module):
    """One ShuffleNet V1 unit (Fig. 2b/c): 1x1 group conv -> ReLU -> channel shuffle -> 3x3
    depth-wise conv (stride s) -> 1x1 group conv, added to x (s = 1) or concatenated with
    AvgPool3x3/s2(x) (s = 2), then ReLU; the bottleneck is a quarter of the unit's width."""

    def __init__(
        self, block: BlockChoice, cin: int, cout: int, stride: int, groups: int, first_groups: int, act: str,
        real_strided_dw: bool = False,
        regular_dw: bool = False,
        residual: bool = True,
    ) -> None:
        super().__init__()
        self.residual = residual
        branch, mid = (cout - cin if stride == 2 else cout), cout // 4
        one = separate_slots(block)
        self.groups, self.expansion = groups, block.expansion
        self.pw1 = block(cin, mid, 1, 1, 0, groups=first_groups, **one)
        self.act1 = activation_layer(act, block)
        real = {"real_dw": True} if real_strided_dw and stride > 1 else {}
        self.dw = block(mid, mid, 3, stride, 1, groups=1 if regular_dw else mid, **one, **real)
        self.pw2 = block(mid, branch, 1, 1, 0, groups=groups, **one)
        self.pool = nn.AvgPool2d(3, 2, 1) if stride == 2 else None
        self.act = activation_layer(act, block)

    def forward(self, x: Tensor) -> Tensor:
        y = channel_shuffle(self.act1(self.pw1(x)), self.groups, self.expansion)
        y = self.pw2(self.dw(y))
        if self.pool is None:
            return self.act(x + y if self.residual else y)
        return self.act(replica_cat([self.pool(x), y], self.expansion))


class ShuffleNetV1(nn.Module):
    """Real 3x3 stem conv + BN [+ 3x3/s2 max-pool], three stages of ShuffleUnits (the first
    of each strided), average pool and a real FC. `real_strided_dw`: the stride-2 depth-wise
    convs get `real_dw=True` (BD-Net-B); `regular_dw`: the depth-wise convs become regular 3x3
    convs (how ReActNet binarizes depth-wise separable networks, BD-Net Tables 4-5)."""

    def __init__(
        self,
        block: BlockChoice,
        widths: Sequence[int],
        depths: Sequence[int],
        groups: int,
        num_classes: int,
        in_channels: int,
        stem_stride: int,
        stem_pool: bool,
        act: str,
        readout: str,
        real_strided_dw: bool = False,
        regular_dw: bool = False,
        residual: bool | None = None,
    ) -> None:
        super().__init__()
        if len(widths) != len(depths) + 1:
            raise ValueError(f"widths needs the stem width and one per stage ({len(depths) + 1}), got {list(widths)}")
        e = block.expansion
        self.stem = expanded_stem(nn.Conv2d(in_channels, widths[0], 3, stem_stride, 1, bias=False), widths[0], e)
        self.stem.append(activation_layer(act, block))
        if stem_pool:
            self.stem.append(nn.MaxPool2d(3, 2, 1))
        units: list[nn.Module] = []
        cin, residual = widths[0], unit_residual(residual, block)
        for i, (width, depth) in enumerate(zip(widths[1:], depths)):
            for j in range(depth):
                # the first unit reads the 24-channel stem with an ungrouped 1x1 (ShuffleNet Sec. 3.3)
                first = 1 if i == 0 and j == 0 else groups
                units.append(ShuffleUnit(block, cin, width, 2 if j == 0 else 1, groups, first, act, real_strided_dw, regular_dw,
                                         residual))
                cin = width
        self.features = nn.Sequential(*units)
        self.head = ClassifierHead(widths[-1], num_classes, e, readout)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(self.stem(x)))


def shufflenet_widths(groups: int, width_mult: float, stem: int = STEM_WIDTH) -> list[int]:
    """Stem and stage widths of ShuffleNet V1 `groups`, times `width_mult`: stages rounded to a
    multiple of 8g (bottleneck and concatenated branch stay divisible by g), the stem to g."""
    if groups not in STAGE_WIDTHS:
        raise ValueError(f"shufflenet_v1 groups must be one of {sorted(STAGE_WIDTHS)}, got {groups}")
    if width_mult <= 0:
        raise ValueError(f"width_mult must be > 0, got {width_mult}")
    stages = [max(1, round(w * width_mult / (8 * groups))) * 8 * groups for w in STAGE_WIDTHS[groups]]
    return [max(1, round(stem * width_mult / groups)) * groups, *stages]


@MODELS.register("shufflenet_v1", output="vector", natural_block="plain", any_width_ratio=True)
def shufflenet_v1(
    block: BlockLike | None = "plain",
    binarizer: BinarizerLike = "fp",
    num_classes: int = 1000,
    in_channels: int = 3,
    input_size: Sequence[int] = (224, 224),
    groups: int = 3,
    depths: Sequence[int] = (4, 8, 4),
    width_mult: float = 1.0,
    stem_stride: int | None = None,
    stem_pool: bool = True,
    act: str = "auto",
    readout: str = "first",
    regular_dw: bool = False,
    unit_residual: bool | None = None,
) -> ShuffleNetV1:
    """ShuffleNet V1 (1x, g = 3 by default), 32-bit by default (block plain, binarizer fp).
    block=reactnet binarizer=reactnet regular_dw=True is BD-Net Table 4's ReActNet row
    (block.br=true: "w/ br")."""
    return _shufflenet("plain", block, binarizer, num_classes, in_channels, input_size, groups, depths, width_mult,
                       stem_stride, stem_pool, act, readout, regular_dw=regular_dw, residual=unit_residual)


@MODELS.register("shufflenet_v1_bdnet_b", output="vector", natural_block="bdnet", block_option="real_dw",
                 any_width_ratio=True)
def shufflenet_v1_bdnet_b(
    block: BlockLike | None = "bdnet",
    binarizer: BinarizerLike = "reactnet",
    num_classes: int = 1000,
    in_channels: int = 3,
    input_size: Sequence[int] = (224, 224),
    groups: int = 3,
    depths: Sequence[int] = (4, 8, 4),
    width_mult: float = 1.0,
    stem_stride: int | None = None,
    stem_pool: bool = True,
    act: str = "auto",
    readout: str = "first",
    unit_residual: bool | None = None,
) -> ShuffleNetV1:
    """BD-Net-B on ShuffleNet V1 (BD-Net Table 4, "ReAct w/ br"): binary 1.58-bit depth-wise
    convs with pre-BN residuals, binary group convs with broadcast residuals, the stride-2
    depth-wise convs real."""
    return _shufflenet("bdnet", block, binarizer, num_classes, in_channels, input_size, groups, depths, width_mult,
                       stem_stride, stem_pool, act, readout, real_strided_dw=True, residual=unit_residual)


def _shufflenet(
    natural: str,
    block: BlockLike | None,
    binarizer: BinarizerLike,
    num_classes: int,
    in_channels: int,
    input_size: Sequence[int],
    groups: int,
    depths: Sequence[int],
    width_mult: float,
    stem_stride: int | None,
    stem_pool: bool,
    act: str,
    readout: str,
    real_strided_dw: bool = False,
    regular_dw: bool = False,
    residual: bool | None = None,
) -> ShuffleNetV1:
    choice = BlockChoice(block if block is not None else natural, binarizer, natural)
    if stem_stride is None:
        stem_stride = 1 if is_cifar_size(input_size) else 2
    widths = shufflenet_widths(groups, width_mult)
    return ShuffleNetV1(choice, widths, depths, groups, num_classes, in_channels, stem_stride, stem_pool, act,
                        readout, real_strided_dw, regular_dw, residual)
