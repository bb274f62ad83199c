"""BiDense's dense prediction network: ConvNeXt encoder + UPerNet decoder + dense head.

Every conv is built through the configured block and binarizer except the 4x4/s4 stem
(real conv + BN) and the head's final 1x1 (BiDense, Sec. 4.1 and its released code). With
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
from bnnbench.models.heads import DenseHead, check_head
from bnnbench.models.layers import (
    BiasPReLU,
    BlockChoice,
    ConvFactory,
    Readout,
    expanded_stem,
    real_conv_bn,
)
from bnnbench.models.upernet import UPerNet, resize


class ConvNeXtBlock(nn.Module):
    """dw7x7 -> pw C->rC -> bias+PReLU(rC) -> pw rC->C, each conv a block; `residual` adds x.

    BiDense drops the block residual and LayerNorm for binary nets (the cfb bypasses carry the
    real-valued signal); its 32-bit baseline keeps the residual.
    """

    def __init__(
        self, dim: int, make_conv: ConvFactory, mlp_ratio: int = 4, residual: bool = False, expansion: int = 1
    ) -> None:
        super().__init__()
        hidden = mlp_ratio * dim
        self.dwconv = make_conv(dim, dim, 7, 1, 3, dim)
        self.pwconv1 = make_conv(dim, hidden, 1)
        self.act = BiasPReLU(hidden * expansion)
        self.pwconv2 = make_conv(hidden, dim, 1)
        self.residual = residual

    def forward(self, x: Tensor) -> Tensor:
        y = self.pwconv2(self.act(self.pwconv1(self.dwconv(x))))
        return x + y if self.residual else y


class ConvNeXtEncoder(nn.Module):
    """Stem (real 4x4/s4 conv + BN), then per stage: a 2x2/s2 downsampling conv (from stage 1)
    and `depths[i]` blocks; returns the feature of every stage, fine to coarse. With
    `expansion` > 1 (ES-BNN) the stem's output is tiled into replicas before its BN."""

    def __init__(
        self,
        in_channels: int,
        dims: Sequence[int],
        depths: Sequence[int],
        make_conv: ConvFactory,
        mlp_ratio: int = 4,
        residual: bool = False,
        expansion: int = 1,
    ) -> None:
        super().__init__()
        self.dims = list(dims)
        self.stem = expanded_stem(nn.Conv2d(in_channels, dims[0], 4, 4), dims[0], expansion)
        self.downsample = nn.ModuleList(
            make_conv(dims[i], dims[i + 1], 2, 2) for i in range(len(dims) - 1)
        )
        self.stages = nn.ModuleList(
            nn.Sequential(*(ConvNeXtBlock(d, make_conv, mlp_ratio, residual, expansion) for _ in range(n)))
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
        self,
        encoder: ConvNeXtEncoder,
        decoder: UPerNet,
        out_conv: nn.Module,
        head: DenseHead,
        readout: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.encoder, self.decoder, self.out_conv, self.head = encoder, decoder, out_conv, head
        self.readout = readout if readout is not None else nn.Identity()  # before a real out_conv

    def forward(self, x: Tensor) -> Tensor:
        y = self.out_conv(self.readout(self.decoder(self.encoder(x))))
        return self.head(resize(y, x.shape[-2:]))


def _residual(block_residual: bool | str, binarizer: BinarizerLike) -> bool:
    if block_residual == "auto":
        return not BinarizerSpec.of(binarizer).binary
    if isinstance(block_residual, bool):
        return block_residual
    raise ValueError(f"block_residual must be 'auto', true or false, got {block_residual!r}")


@MODELS.register("convnext_upernet", output="dense", natural_block="cfb")
def convnext_upernet(
    block: str | Mapping[str, Any] | None = "cfb",
    binarizer: BinarizerLike = "dab",
    out_channels: int = 150,
    head_kind: str = "logits",
    max_depth: float | None = None,
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
    readout: str = "first",
) -> ConvNeXtUPerNet:
    """BiDense ConvNeXt-T + UPerNet (defaults: full width, ADE20K's 150 classes).

    The output: `out_channels` maps of `head_kind` logits, or depth (sigmoid * max_depth).
    fpn_channels defaults to dims[0] (96), psp_channels to dims[-1] // len(psp_bins) (192),
    head_channels to 128 (logits) / 32 (depth) as in the BiDense code. block_residual "auto" adds
    the ConvNeXt block residual for a non-binary binarizer (the 32-bit baseline). real_head
    makes the out conv and the head's 3x3 real conv + BN, as in the released BiDense code
    (its paper's costs fit binary ones). With an expanding block (es) the features between
    layers are tau*g wider and the head reads the base width back (`readout`: first | mean).
    """
    check_head(head_kind, out_channels, max_depth)
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
    head_channels = head_channels or (128 if head_kind == "logits" else 32)

    make_conv = BlockChoice(block if block is not None else "cfb", binarizer, "cfb")
    e = make_conv.expansion
    encoder = ConvNeXtEncoder(
        in_channels, dims, depths, make_conv, mlp_ratio, _residual(block_residual, binarizer), e
    )
    decoder = UPerNet(dims, fpn_channels, psp_channels, psp_bins, dropout, make_conv, e)
    max_depth = max_depth if head_kind == "depth" else None
    if real_head:  # real convs read the base width back first
        out_conv = real_conv_bn(fpn_channels, decoder_channels, 3, 1, 1)
        head = DenseHead(decoder_channels, head_channels, out_channels, real_conv_bn, max_depth)
        return ConvNeXtUPerNet(encoder, decoder, out_conv, head, Readout(fpn_channels, e, readout))
    out_conv = make_conv(fpn_channels, decoder_channels, 3, 1, 1)
    head = DenseHead(
        decoder_channels, head_channels, out_channels, make_conv, max_depth, Readout(head_channels, e, readout)
    )
    return ConvNeXtUPerNet(encoder, decoder, out_conv, head)
