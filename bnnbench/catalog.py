"""Every registered method in one list: activation binarizers, weight binarizers and blocks."""

from __future__ import annotations

import inspect

import bnnbench.binarizers  # noqa: F401  (registrations)
import bnnbench.blocks  # noqa: F401  (registrations)
from bnnbench.registry import BINARIZERS, BLOCKS, WEIGHT_BINARIZERS, Registry

KINDS: dict[str, Registry] = {"binarizer": BINARIZERS, "weight": WEIGHT_BINARIZERS, "block": BLOCKS}


def first_line(obj: object) -> str:
    """The docstring's summary (its first paragraph, wrapped lines joined) as one line; "" without one."""
    doc = (inspect.getdoc(obj) or "").strip()
    return " ".join(line.strip() for line in doc.split("\n\n")[0].splitlines())


def catalog() -> list[tuple[str, str, str]]:
    """(kind, name, one line) for every registered binarizer, weight binarizer and block, sorted by kind then name."""
    return [(kind, name, first_line(reg.get(name))) for kind, reg in KINDS.items() for name in reg.names()]
