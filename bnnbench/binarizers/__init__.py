"""Binarizers: how a tensor becomes +-1 with threshold and scale, and their surrogate gradients.

One file per method registers an activation binarizer (which names its weight binarizer).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bnnbench.binarizers.base import ActivationBinarizer
from bnnbench.binarizers.registry import BINARIZERS
from bnnbench.binarizers.spec import BinarizerSpec
from bnnbench.binarizers.weights import WEIGHT_BINARIZERS, WeightBinarizer
from bnnbench.core.registry import import_submodules


def build(name: str | Mapping[str, Any] | BinarizerSpec, channels: int, **options: Any) -> ActivationBinarizer:
    """The activation binarizer `name` for a tensor with `channels` channels."""
    spec = BinarizerSpec.of(name)
    if options:
        spec = BinarizerSpec(spec.name, {**spec.options, **options}, spec.weight)
    return spec.activation(channels)


def names() -> list[str]:
    """Registered activation binarizer names."""
    return BINARIZERS.names()


import_submodules(__name__, __path__)

__all__ = [
    "BINARIZERS",
    "WEIGHT_BINARIZERS",
    "ActivationBinarizer",
    "BinarizerSpec",
    "WeightBinarizer",
    "build",
    "names",
]
