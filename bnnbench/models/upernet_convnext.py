"""The 32-bit baseline of BiDense's dense tables: a standard ConvNeXt + UPerNet, nothing binarized.

BiDense's 32-bit rows (Yin et al. 2024, Tables 1-4) are ConvNeXt-T (Liu et al. 2022: 7x7
depth-wise conv, LayerNorm, an inverted MLP with GELU, one residual per block) under an UPerNet
decoder (Xiao et al. 2018: PPM + FPN of conv-BN-ReLU). That network is not the binary one with its
sign replaced by the identity (bnnbench's `convnext_upernet` with `binarizer=fp` has a shortcut
around every conv and almost no nonlinearity), so it is built here from the libraries that keep it:
segmentation_models_pytorch's `UPerNet` on timm's `convnext_*` encoder (`tu-` prefix), with
`dims` and `depths` passed to timm for the narrow CPU preset. No weights are downloaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bnnbench.binarizers import BinarizerSpec
from bnnbench.blocks.conv import BinarizerLike
from bnnbench.models import MODELS
from bnnbench.models.heads import check_head
from bnnbench.models.smp import SmpDense


@MODELS.register("upernet_convnext", output="dense", expandable=False, real_only=True)
def upernet_convnext(
    binarizer: BinarizerLike = "fp",
    block: str | Mapping[str, Any] | None = None,
    out_channels: int = 150,
    head_kind: str = "logits",
    max_depth: float | None = None,
    in_channels: int = 3,
    encoder: str = "convnext_tiny",
    dims: Sequence[int] | None = None,
    depths: Sequence[int] | None = None,
    decoder_channels: int = 512,
    drop_path_rate: float = 0.0,
) -> SmpDense:
    """smp UPerNet on timm's `encoder` (ConvNeXt-T by default: dims 96-768, depths 3-3-9-3;
    `dims` / `depths` override timm's for a narrow preset), real-valued throughout."""
    import segmentation_models_pytorch as smp  # slow import: only when built

    spec = BinarizerSpec.of(binarizer)
    if spec.binary or block is not None:
        given = f"binarizer={spec.name}" if spec.binary else f"block={block}"
        raise ValueError(f"upernet_convnext is the 32-bit baseline (no binary convs), got {given}: "
                         f"use binarizer=fp block=auto (the binary network is model=convnext_upernet)")
    check_head(head_kind, out_channels, max_depth)
    timm_args: dict[str, Any] = {"drop_path_rate": drop_path_rate}
    if dims is not None:
        timm_args["dims"] = tuple(int(d) for d in dims)
    if depths is not None:
        timm_args["depths"] = tuple(int(d) for d in depths)
    net = smp.UPerNet(encoder_name=f"tu-{encoder}", encoder_weights=None, in_channels=in_channels,
                      classes=out_channels, decoder_channels=decoder_channels, **timm_args)
    return SmpDense(net, max_depth if head_kind == "depth" else None)


__all__ = ["upernet_convnext"]
