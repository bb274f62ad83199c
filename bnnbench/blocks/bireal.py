"""`bireal`: the Bi-Real Net conv (Liu et al. 2018): every binary conv has its own shortcut."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from bnnbench.blocks.activations import activation, check_activation
from bnnbench.blocks.base import Block, ConvSlot
from bnnbench.blocks.bypass import match_spatial
from bnnbench.blocks.registry import BLOCKS
from bnnbench.core.elementwise import per_sample, pooled


@BLOCKS.register("bireal")
class BiRealBlock(Block):
    """act(BN(conv(B(x))) + shortcut(x)).

    shortcut = x, or AvgPool2d(stride) -> real 1x1 conv -> BN when the stride or the width
    changes (Bi-Real / ReActNet ResNet downsampling). `act`: none in Bi-Real, rprelu in
    ReActNet's ResNet-18, maxout in AdaBin. `shortcut=False` drops the shortcut: act(BN(conv(B(x))))
    (BiDet's RPN conv, ZiweiWangTHU/BiDet@fc54511 faster_rcnn/lib/model/rpn).
    """

    def __init__(
        self,
        slot: ConvSlot,
        act: str = "none",
        shortcut: bool = True,
    ) -> None:
        in_channels, out_channels, stride = slot.in_channels, slot.out_channels, slot.stride
        check_activation(act, "bireal")
        super().__init__(slot)
        self.act = activation(act, out_channels)
        self.shortcut = shortcut
        self.downsample: nn.Module = nn.Identity()
        if shortcut and (stride > 1 or in_channels != out_channels):
            self.downsample = nn.Sequential(
                slot.conv_factory(in_channels, out_channels, 1, binarizer="fp"), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn(self.conv(x))
        if not self.shortcut:
            return self.act(out)
        return self.act(out + self.downsample(match_spatial(x, self.stride, out.shape[-2:])))

    def elementwise_ops(self, in_shape: Sequence[int], out_shape: Sequence[int]) -> int:
        """The shortcut: AvgPool2d(stride) and the add (its real 1x1 conv counts as MACs)."""
        return pooled(in_shape, self.stride) + per_sample(out_shape) if self.shortcut else 0
