"""Lightning tasks (seg, depth, ...): loss, metrics and optimizers around any model."""

from __future__ import annotations

from typing import Any

from bnnbench.core.registry import TASKS, import_submodules


def build(name: str, **kwargs: Any) -> Any:
    """Build the task registered as `name` (e.g. "seg", "depth") around `model=`."""
    return TASKS.build(name, **kwargs)


def names() -> list[str]:
    """Registered task names."""
    return TASKS.names()


import_submodules(__name__, __path__)

__all__ = ["TASKS", "build", "names"]
