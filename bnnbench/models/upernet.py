"""UPerNet decoder as in the BiDense code: PSP on the last level, FPN fusion to one map at 1/4.

Features may be `expansion` times wider than the widths given (ES-BNN replicas): biases and
activations are built at that width and concatenations join replica by replica.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from bnnbench.models.layers import BiasPReLU, ConvFactory, replica_cat


def resize(x: Tensor, size: Sequence[int]) -> Tensor:
    """Bilinear resize with align_corners=True, as every resize of the BiDense UPerNet."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=True)


class PSP(nn.Module):
    """Pyramid pooling: per bin AdaptiveAvgPool -> 1x1 conv -> bias+PReLU, upsampled and
    concatenated with the input; bottleneck 3x3 conv -> bias+PReLU -> Dropout2d."""

    def __init__(
        self,
        in_channels: int,
        branch_channels: int,
        out_channels: int,
        bins: Sequence[int],
        dropout: float,
        make_conv: ConvFactory,
        expansion: int = 1,
    ) -> None:
        super().__init__()
        self.expansion = expansion
        if not bins or any(b < 1 for b in bins):
            raise ValueError(f"psp_bins must be non-empty positive sizes, got {list(bins)}")
        self.stages = nn.ModuleList(
            nn.Sequential(
                nn.AdaptiveAvgPool2d(b),
                make_conv(in_channels, branch_channels, 1),
                BiasPReLU(branch_channels * expansion),
            )
            for b in bins
        )
        self.bottleneck = nn.Sequential(
            make_conv(in_channels + branch_channels * len(bins), out_channels, 3, 1, 1),
            BiasPReLU(out_channels * expansion),
            nn.Dropout2d(dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        pyramid = [x, *(resize(stage(x), size) for stage in self.stages)]
        return self.bottleneck(replica_cat(pyramid, self.expansion))


class FPNFuse(nn.Module):
    """FPN fusion of the BiDense code (from pytorch-segmentation's UperNet).

    Lateral 1x1 convs bring levels 1.. to `channels` (level 0 too when its width differs);
    level i becomes smooth(lateral_i + up(lateral_{i+1})), the top-down sums not chained; the
    3x3 smoothing conv is ONE module applied to every level (shared weights). All levels are
    upsampled to level 0 and fused: 3x3 conv (n * channels -> channels) -> bias+PReLU+bias.
    """

    def __init__(
        self, in_channels: Sequence[int], channels: int, make_conv: ConvFactory, expansion: int = 1
    ) -> None:
        super().__init__()
        self.expansion = expansion
        if len(in_channels) < 2:
            raise ValueError(f"FPN needs at least 2 levels, got in_channels={list(in_channels)}")
        self.lateral0 = (
            make_conv(in_channels[0], channels, 1) if in_channels[0] != channels else None
        )
        self.laterals = nn.ModuleList(make_conv(c, channels, 1) for c in in_channels[1:])
        self.smooth = make_conv(channels, channels, 3, 1, 1)
        self.fusion = nn.Sequential(
            make_conv(len(in_channels) * channels, channels, 3, 1, 1),
            BiasPReLU(channels * expansion, out_bias=True),
        )

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        first = features[0] if self.lateral0 is None else self.lateral0(features[0])
        lat = [first, *(conv(f) for conv, f in zip(self.laterals, features[1:]))]
        levels = [
            self.smooth(lat[i] + resize(lat[i + 1], lat[i].shape[-2:])) for i in range(len(lat) - 1)
        ]
        levels.append(lat[-1])
        size = levels[0].shape[-2:]
        return self.fusion(replica_cat([resize(p, size) for p in levels], self.expansion))


class UPerNet(nn.Module):
    """PSP on the deepest level, then FPN fusion: features (fine to coarse) -> one map at level 0."""

    def __init__(
        self,
        in_channels: Sequence[int],
        channels: int,
        psp_channels: int,
        psp_bins: Sequence[int],
        dropout: float,
        make_conv: ConvFactory,
        expansion: int = 1,
    ) -> None:
        super().__init__()
        top = in_channels[-1]
        self.psp = PSP(top, psp_channels, top, psp_bins, dropout, make_conv, expansion)
        self.fpn = FPNFuse(in_channels, channels, make_conv, expansion)

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        return self.fpn([*features[:-1], self.psp(features[-1])])
