"""Every registered method in one list: activation binarizers, weight binarizers and blocks."""

from __future__ import annotations

import inspect

import bnnbench.binarizers  # noqa: F401  (registrations)
import bnnbench.blocks  # noqa: F401  (registrations)
import bnnbench.data  # noqa: F401  (registrations)
import bnnbench.models  # noqa: F401
import bnnbench.tasks  # noqa: F401
from bnnbench.core.console import console
from bnnbench.core.registry import (
    BINARIZERS,
    BLOCKS,
    DATASETS,
    MODELS,
    TASKS,
    WEIGHT_BINARIZERS,
    Registry,
)

KINDS: dict[str, Registry] = {"binarizer": BINARIZERS, "weight": WEIGHT_BINARIZERS, "block": BLOCKS}


def first_line(obj: object) -> str:
    """The docstring's summary (its first paragraph, wrapped lines joined) as one line; "" without one."""
    doc = (inspect.getdoc(obj) or "").strip()
    return " ".join(line.strip() for line in doc.split("\n\n")[0].splitlines())


def catalog() -> list[tuple[str, str, str]]:
    """(kind, name, one line) for every registered binarizer, weight binarizer and block, sorted by kind then name."""
    return [(kind, name, first_line(reg.get(name))) for kind, reg in KINDS.items() for name in reg.names()]


def components() -> list[tuple[str, str, str]]:
    """(kind, name, one line) for every registered model, data set and task."""
    kinds: dict[str, Registry] = {"model": MODELS, "data": DATASETS, "task": TASKS}
    return [(kind, name, first_line(reg.get(name))) for kind, reg in kinds.items() for name in reg.names()]


def print_catalog() -> None:
    """`python -m bnnbench list`: every registered method and component, one line each."""
    from rich.table import Table


    table = Table(title="bnnbench: registered methods and components (config group = kind)")
    for col in ("kind", "name", "what it is"):
        table.add_column(col, overflow="fold")
    for kind, name, line in [*catalog(), *components()]:
        table.add_row(kind, name, line)
    console.print(table)
