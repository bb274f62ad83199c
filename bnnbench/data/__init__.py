"""Data modules: generated default data sets and real data sets in their standard layouts."""

from __future__ import annotations

from typing import Any

from bnnbench.core.registry import DATASETS, import_submodules
from bnnbench.data.base import BaseDataModule
from bnnbench.data.info import DataInfo


def build(name: str, **kwargs: Any) -> BaseDataModule:
    """Build the data module registered as `name` (e.g. "gen_seg", "ade20k", "cifar10")."""
    return DATASETS.build(name, **kwargs)


def names() -> list[str]:
    """Registered data set names."""
    return DATASETS.names()


import_submodules(__name__, __path__)

__all__ = ["DATASETS", "BaseDataModule", "DataInfo", "build", "names"]
