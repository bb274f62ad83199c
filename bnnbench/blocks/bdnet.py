"""`bdnet`: BD-Net's MobileNetV1 layer (Kim et al. 2025): a 1.58-bit depth-wise conv with a
pre-BN residual, then a point-wise conv with a broadcast residual."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from bnnbench.binarizers.base import channel_param
from bnnbench.blocks.activations import activation, check_activation
from bnnbench.blocks.base import Block, ConvFactory, ConvSlot
from bnnbench.blocks.bypass import broadcast, match_spatial
from bnnbench.blocks.conv import BinarizerLike, BinaryConv2d
from bnnbench.blocks.registry import BLOCKS
from bnnbench.core.codes import ActivationCode
from bnnbench.core.elementwise import per_sample, pooled

DUALS = ("dw", "all", "none")


class Shifted(nn.Module):
    """B(x - alpha): one branch's own learnable per-channel threshold alpha (BD-Net Eq. 11)."""

    def __init__(self, binarizer: nn.Module, channels: int, alpha: float) -> None:
        super().__init__()
        self.binarizer = binarizer
        self.alpha = channel_param(channels, alpha)

    def forward(self, x: Tensor) -> Tensor:
        return self.binarizer(x - self.alpha)

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """x - alpha, one per element (the wrapped binarizer declares its own)."""
        return per_sample(in_shape)

    def export_code(self) -> ActivationCode | None:
        """The wrapped binarizer's export code, read at x - alpha (None: it has no export rule)."""
        rule = getattr(self.binarizer, "export_code", None)
        code = rule() if rule is not None else None
        return None if code is None else code.shifted(self.alpha)


class DualConv(nn.Module):
    """BD-Net's 1.58-bit conv: two parallel binary convs, each with its own per-channel
    threshold alpha_i and output scale beta_i, summed (Eq. 11):
    y = beta_1 * conv_1(B(x - alpha_1)) + beta_2 * conv_2(B(x - alpha_2)).

    For a depth-wise conv a per-channel output scale is the scale of that channel's activation,
    so the summed activations beta_1 B(x - alpha_1) + beta_2 B(x - alpha_2) take the three
    levels {-b1-b2, b1-b2, b1+b2} while alpha_1 <= alpha_2; applying beta after the conv keeps
    each branch a plain binary conv (XNOR-popcount, then a scale) for point-wise convs too. The
    paper gives no initial values: we start ternary, alpha = -/+ `threshold`, beta = 1/2.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        binarizer: BinarizerLike = "fp",
        threshold: float = 0.5,
        conv_factory: ConvFactory = BinaryConv2d,
    ) -> None:
        super().__init__()
        self.conv1 = conv_factory(in_channels, out_channels, kernel_size, stride, padding, groups, binarizer)
        self.conv2 = conv_factory(in_channels, out_channels, kernel_size, stride, padding, groups, binarizer)
        for conv, alpha in ((self.conv1, -threshold), (self.conv2, threshold)):
            conv.binarizer = Shifted(conv.binarizer, in_channels, alpha)
        self.beta1 = channel_param(out_channels, 0.5)
        self.beta2 = channel_param(out_channels, 0.5)
        self.depthwise = groups == in_channels == out_channels

    def levels(self, x: Tensor) -> Tensor:
        """The summed scaled binarized activations of a depth-wise DualConv (Eq. 11's f(x))."""
        if not self.depthwise:
            raise ValueError("levels() is Eq. 11's activation view, defined for depth-wise convs only")
        return self.beta1 * self.conv1.binarizer(x) + self.beta2 * self.conv2.binarizer(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.beta1 * self.conv1(x) + self.beta2 * self.conv2(x)

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """beta_1 y_1 + beta_2 y_2: two multiplies and an add per output element."""
        return 3 * per_sample(out_shape)



def _conv(
    dual: bool, cin: int, cout: int, k: int, stride: int, padding: int, groups: int,
    binarizer: BinarizerLike, threshold: float, conv_factory: ConvFactory,
) -> nn.Module:
    """A 1.58-bit DualConv when `dual`, else a single (binary) conv."""
    if dual:
        return DualConv(cin, cout, k, stride, padding, groups, binarizer, threshold, conv_factory)
    return conv_factory(cin, cout, k, stride, padding, groups, binarizer)


@BLOCKS.register("bdnet")
class BDNetBlock(Block):
    """One BD-Net layer (MobileNetV1 depth-wise separable layer):

    o1 = act(BN(dwconv_s(x) + x_s) + x_s), x_s = AvgPool2d(s)(x) (pre-BN residual, Eqs. 3-4);
    o2 = act(BN(pwconv(o1)) + broadcast(o1, C_out)) (broadcast residual across channel changes).

    The spatial conv is always depth-wise (`groups` must be 1 or in_channels). `dual`: which
    convs are 1.58-bit: dw (the paper's text, default), all (point-wise too; fits the ImageNet
    BOPs of Table 3), none (single binary convs, the ablation baseline of Table 6).
    `real_dw`: keep the depth-wise conv real valued (BD-Net-B does it in stride-2 layers).
    `prebn`: the pre-BN residual (False: y = BN(dwconv(x)) + x, Table 6's baseline).
    `separable=False`: one conv per block, for networks with their own point-wise convs
    (ShuffleNet V1, MobileNet V3, BD-Net Tables 4-5): a depth-wise slot (groups = C_in = C_out)
    is o1 alone, any other slot (point-wise, grouped, regular) act(BN(conv(x)) + broadcast(x_s,
    C_out)) with the slot's kernel, stride and groups.
    """

    def __init__(
        self,
        slot: ConvSlot,
        dual: str = "dw",
        act: str = "rprelu",
        prebn: bool = True,
        real_dw: bool = False,
        threshold: float = 0.5,
        separable: bool = True,
    ) -> None:
        in_channels, out_channels, kernel_size, stride, padding, groups, binarizer = slot
        if dual not in DUALS:
            raise ValueError(f"bdnet dual must be one of {DUALS}, got {dual!r}")
        check_activation(act, "bdnet")
        if separable and groups not in (1, in_channels):
            raise ValueError(
                f"bdnet's spatial conv is depth-wise: groups must be 1 or in_channels={in_channels}, got {groups}"
            )
        super().__init__(slot, conv=False)
        self.dual, self.prebn, self.real_dw, self.separable = dual, prebn, real_dw, separable
        # without `separable` a slot is either the depth-wise part or the point-wise part alone
        self.has_dw = separable or groups == in_channels == out_channels
        self.has_pw = separable or not self.has_dw
        if self.has_dw:
            dw_binarizer: BinarizerLike = "fp" if real_dw else binarizer
            dw_dual = dual != "none" and not real_dw
            self.conv = _conv(
                dw_dual, in_channels, in_channels, kernel_size, stride, padding, in_channels, dw_binarizer, threshold,
                slot.conv_factory,
            )
            self.bn = nn.BatchNorm2d(in_channels)
            self.act1 = activation(act, in_channels)
        if self.has_pw:
            pw = (1, 1, 0, 1) if separable else (kernel_size, stride, padding, groups)
            self.pw = _conv(dual == "all", in_channels, out_channels, *pw, binarizer, threshold, slot.conv_factory)
            self.bn_pw = nn.BatchNorm2d(out_channels)
            self.act2 = activation(act, out_channels)

    def depthwise(self, x: Tensor) -> Tensor:
        """BN(dwconv(x) + x) + x, before the activation (the pre-BN residual)."""
        out = self.conv(x)
        shortcut = match_spatial(x, self.stride, out.shape[-2:])
        if self.prebn:
            return self.bn(out + shortcut) + shortcut
        return self.bn(out) + shortcut

    def pointwise(self, x: Tensor) -> Tensor:
        """BN(pwconv(x)) + broadcast(x, C_out), before the activation (x brought to the
        output's size when a strided slot has no depth-wise part)."""
        out = self.bn_pw(self.pw(x))
        shortcut = x if self.has_dw else match_spatial(x, self.stride, out.shape[-2:])
        return out + broadcast(shortcut, self.out_channels)

    def forward(self, x: Tensor) -> Tensor:
        if self.has_dw:
            x = self.act1(self.depthwise(x))
        return self.act2(self.pointwise(x)) if self.has_pw else x

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """AvgPool2d(stride), the pre-BN and post-BN adds of the shortcut (one without
        `prebn`), and the broadcast residual's add (the broadcast itself is a copy)."""
        ops = pooled(in_shape, self.stride)
        if self.has_dw:
            ops += (2 if self.prebn else 1) * self.in_channels * math.prod(out_shape[2:])
        return ops + (per_sample(out_shape) if self.has_pw else 0)
