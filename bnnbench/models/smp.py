"""Any segmentation_models_pytorch architecture, binarized by `convert` (stem and head kept real)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from bnnbench.blocks.conv import BinarizerLike
from bnnbench.core.checkpoint import load_weights, read_state_dict
from bnnbench.models import MODELS
from bnnbench.models.convert import convert
from bnnbench.models.heads import check_head


class SmpDense(nn.Module):
    """Wraps an smp model `net`; for depth its single output goes through sigmoid * max_depth."""

    def __init__(self, net: nn.Module, max_depth: float | None = None) -> None:
        super().__init__()
        self.net = net
        self.max_depth = max_depth

    def forward(self, x: Tensor) -> Tensor:
        out = self.net(x)
        return out if self.max_depth is None else torch.sigmoid(out) * self.max_depth


def first_conv_name(module: nn.Module, prefix: str) -> str:
    """Qualified name of the first Conv2d registered in `module` (an encoder's stem)."""
    for name, m in module.named_modules():
        if isinstance(m, nn.Conv2d):
            return f"{prefix}.{name}" if name else prefix
    raise ValueError(f"{type(module).__name__} has no Conv2d")


def load_encoder_checkpoint(net: nn.Module, path: str | Path) -> None:
    """Load a local state dict: a whole smp model's (keys "encoder.*", ...) or its encoder's."""
    state = read_state_dict(path, "checkpoint", prefix="")
    load_weights(net if any(k.startswith("encoder.") for k in state) else net.encoder, path, "checkpoint")


@MODELS.register("smp", output="dense", natural_block="cfb", expandable=False)
def smp_model(
    block: str | Mapping[str, Any] | None = "cfb",
    binarizer: BinarizerLike = "dab",
    out_channels: int = 1,
    head_kind: str = "logits",
    max_depth: float | None = None,
    in_channels: int = 3,
    arch: str = "Unet",
    encoder_name: str = "resnet18",
    checkpoint: str | None = None,
    keep: Sequence[str] | None = None,
    options: Mapping[str, Any] | None = None,
) -> SmpDense:
    """smp `arch` with `encoder_name`, every conv a block except those in `keep`.

    keep (names inside the smp model) defaults to the encoder's first conv and the
    segmentation head. Weights are never downloaded: `checkpoint` is a local state dict
    (the encoder's, or a whole smp model's), loaded before conversion, and the binary convs
    then start from its weights. `options` go to smp.create_model (e.g. decoder_channels).
    """
    import segmentation_models_pytorch as smp  # slow import: only when an smp model is built

    check_head(head_kind, out_channels, max_depth)
    block = block if block is not None else "cfb"
    options = dict(options or {})
    if options.pop("encoder_weights", None) is not None:
        raise ValueError(
            "smp encoder_weights would download; give a local `checkpoint` path instead"
        )
    net = smp.create_model(
        arch,
        encoder_name=encoder_name,
        encoder_weights=None,
        in_channels=in_channels,
        classes=out_channels,
        **options,
    )
    if checkpoint is not None:
        load_encoder_checkpoint(net, checkpoint)
    if keep is None:
        keep = [first_conv_name(net.encoder, "encoder"), "segmentation_head"]
    convert(net, block, binarizer, keep=keep, copy_weights=checkpoint is not None)
    return SmpDense(net, max_depth if head_kind == "depth" else None)
