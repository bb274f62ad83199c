"""BiDense's dense prediction network: ConvNeXt encoder + UPerNet decoder + dense head.

Every conv is built through the configured block and binarizer except the 4x4/s4 stem
(real conv + BN) and the head's final 1x1 (METHODS.md "Architectures of the seeds"). With
`binarizer=fp` the same code gives the 32-bit baseline (BN after each conv, block residuals);
with the cfb block its identity bypasses of the dw conv and of the FPN smoothing conv are the
released fp32 code's x + BN(conv(x)) residuals (the pw bypasses, parameter-free, are extra).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from bnnbench.binarizers import BinarizerSpec
from bnnbench.blocks.conv import BinarizerLike
from bnnbench.models import MODELS
from bnnbench.models.heads import DenseHead, check_task
from bnnbench.models.layers import BiasPReLU, ConvFactory, block_factory, real_conv_bn
from bnnbench.models.upernet import UPerNet, resize


class ConvNeXtBlock(nn.Module):
    """dw7x7 -> pw C->rC -> bias+PReLU(rC) -> pw rC->C, each conv a block; `residual` adds x.

    BiDense drops the block residual and LayerNorm for binary nets (the cfb bypasses carry the
    real-valued signal); its 32-bit baseline keeps the residual.
    """

    def __init__(
        self, dim: int, make_conv: ConvFactory, mlp_ratio: int = 4, residual: bool = False
    ) -> None:
        super().__init__()
        hidden = mlp_ratio * dim
        self.dwconv = make_conv(dim, dim, 7, 1, 3, dim)
        self.pwconv1 = make_conv(dim, hidden, 1)
        self.act = BiasPReLU(hidden)
        self.pwconv2 = make_conv(hidden, dim, 1)
        self.residual = residual

    def forward(self, x: Tensor) -> Tensor:
        y = self.pwconv2(self.act(self.pwconv1(self.dwconv(x))))
        return x + y if self.residual else y


class ConvNeXtEncoder(nn.Module):
    """Stem (real 4x4/s4 conv + BN), then per stage: a 2x2/s2 downsampling conv (from stage 1)
    and `depths[i]` blocks; returns the feature of every stage, fine to coarse."""

    def __init__(
        self,
        in_channels: int,
        dims: Sequence[int],
        depths: Sequence[int],
        make_conv: ConvFactory,
        mlp_ratio: int = 4,
        residual: bool = False,
    ) -> None:
        super().__init__()
        self.dims = list(dims)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, dims[0], 4, 4), nn.BatchNorm2d(dims[0]))
        self.downsample = nn.ModuleList(
            make_conv(dims[i], dims[i + 1], 2, 2) for i in range(len(dims) - 1)
        )
        self.stages = nn.ModuleList(
            nn.Sequential(*(ConvNeXtBlock(d, make_conv, mlp_ratio, residual) for _ in range(n)))
            for d, n in zip(dims, depths)
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        features = []
        x = self.stem(x)
        for i, stage in enumerate(self.stages):
            if i:
                x = self.downsample[i - 1](x)
            x = stage(x)
            features.append(x)
        return features


class ConvNeXtUPerNet(nn.Module):
    """encoder -> UPerNet -> out conv -> bilinear upsample to the input -> head."""

    def __init__(
        self, encoder: ConvNeXtEncoder, decoder: UPerNet, out_conv: nn.Module, head: DenseHead
    ) -> None:
        super().__init__()
        self.encoder, self.decoder, self.out_conv, self.head = encoder, decoder, out_conv, head

    def forward(self, x: Tensor) -> Tensor:
        y = self.out_conv(self.decoder(self.encoder(x)))
        return self.head(resize(y, x.shape[-2:]))


def _residual(block_residual: bool | str, binarizer: BinarizerLike) -> bool:
    if block_residual == "auto":
        return not BinarizerSpec.of(binarizer).binary
    if isinstance(block_residual, bool):
        return block_residual
    raise ValueError(f"block_residual must be 'auto', true or false, got {block_residual!r}")


@MODELS.register("convnext_upernet")
def convnext_upernet(
    block: str | Mapping[str, Any] = "cfb",
    binarizer: BinarizerLike = "dab",
    task: str = "seg",
    num_classes: int | None = 150,
    max_depth: float = 10.0,
    in_channels: int = 3,
    depths: Sequence[int] = (3, 3, 9, 3),
    dims: Sequence[int] = (96, 192, 384, 768),
    mlp_ratio: int = 4,
    block_residual: bool | str = "auto",
    fpn_channels: int | None = None,
    psp_channels: int | None = None,
    psp_bins: Sequence[int] = (1, 2, 4, 6),
    dropout: float = 0.1,
    decoder_channels: int = 128,
    head_channels: int | None = None,
    real_head: bool = False,
) -> ConvNeXtUPerNet:
    """BiDense ConvNeXt-T + UPerNet (defaults: full width); see METHODS.md for the wiring.

    fpn_channels defaults to dims[0] (96), psp_channels to dims[-1] // len(psp_bins) (192),
    head_channels to 128 (seg) / 32 (depth) as in the BiDense code. block_residual "auto" adds
    the ConvNeXt block residual for a non-binary binarizer (the 32-bit baseline). real_head
    makes the out conv and the head's 3x3 real conv + BN, as in the released BiDense code
    (its paper's costs fit binary ones).
    """
    out_channels = check_task(task, num_classes, max_depth)
    dims, depths, psp_bins = list(dims), list(depths), list(psp_bins)
    if len(dims) != len(depths) or len(dims) < 2:
        raise ValueError(
            f"dims and depths need the same length >= 2, got dims={dims}, depths={depths}"
        )
    if not psp_bins or min(psp_bins) < 1:
        raise ValueError(f"psp_bins must be non-empty positive sizes, got {psp_bins}")
    if min(dims) < 1 or min(depths) < 0 or mlp_ratio < 1:
        raise ValueError(
            f"dims and mlp_ratio must be >= 1, depths >= 0: dims={dims}, depths={depths}, mlp_ratio={mlp_ratio}"
        )
    fpn_channels = fpn_channels or dims[0]
    psp_channels = psp_channels or max(1, dims[-1] // len(psp_bins))
    head_channels = head_channels or (128 if task == "seg" else 32)

    make_conv = block_factory(block, binarizer)
    head_conv = real_conv_bn if real_head else make_conv
    encoder = ConvNeXtEncoder(
        in_channels, dims, depths, make_conv, mlp_ratio, _residual(block_residual, binarizer)
    )
    decoder = UPerNet(dims, fpn_channels, psp_channels, psp_bins, dropout, make_conv)
    out_conv = head_conv(fpn_channels, decoder_channels, 3, 1, 1)
    head = DenseHead(
        decoder_channels,
        head_channels,
        out_channels,
        head_conv,
        max_depth if task == "depth" else None,
    )
    return ConvNeXtUPerNet(encoder, decoder, out_conv, head)
