"""Models: architectures built from blocks, and `convert` to binarize any torch model."""

from __future__ import annotations

from typing import Any

from torch import nn

from bnnbench.registry import Registry, import_submodules

MODELS = Registry("model")


def build(name: str, **kwargs: Any) -> nn.Module:
    """Build the model registered as `name` (e.g. "convnext_upernet", "smp")."""
    return MODELS.build(name, **kwargs)


def names() -> list[str]:
    """Registered model names."""
    return MODELS.names()


import_submodules(__name__, __path__)

from bnnbench.models.convert import convert  # noqa: E402  (after the registrations, as a re-export)

__all__ = ["MODELS", "build", "convert", "names"]
