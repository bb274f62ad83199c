"""Models: architectures built from blocks, and `convert` to binarize any torch model."""

from __future__ import annotations

from typing import Any

from torch import nn

from bnnbench.core.registry import MODELS, import_submodules
from bnnbench.models.compat import check_block_in_model


def build(name: str, **kwargs: Any) -> nn.Module:
    """Build the model registered as `name` (e.g. "convnext_upernet", "smp"); a block that
    cannot work in it (see `bnnbench.models.compat`) is refused before anything is built."""
    check_block_in_model(kwargs.get("block"), MODELS.check(name))
    return MODELS.build(name, **kwargs)


def names(binary: bool = False) -> list[str]:
    """Registered model names; `binary=True`: only those whose convs a binarizer and a block can
    fill (not a real-only 32-bit baseline such as upernet_convnext)."""
    return [n for n in MODELS.names() if not (binary and MODELS.meta(n).get("real_only"))]


import_submodules(__name__, __path__)

from bnnbench.models.convert import convert  # noqa: E402  (after the registrations, as a re-export)

__all__ = ["MODELS", "build", "convert", "names"]
