"""Every method the conformance tool checks: bnnbench's side, the authors' side and the case.

Each method gives `ours(case)` and `theirs(module, case)` on one float64 case (`case.py`); both
return the same quantities, so golden tensors written from `theirs` are checked against `ours`
without the authors' code (tests/conformance). Per-conv checks are in `convs.py`; methods the
authors define as a whole unit (BiDense, BiSRNet, BI-DiffSR) are checked as one in `units.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from bnnbench.conformance import convs, units
from bnnbench.conformance.case import Case, Result, make_case


@dataclass(frozen=True)
class Method:
    """bnnbench's side and the authors' side of one method's check, and the case it runs on."""

    ours: Callable[[Case], Result]
    theirs: Callable[[ModuleType, Case], Result]
    case: Callable[[], Case] = make_case


def _of(module: ModuleType, name: str, case: Callable[[], Case] = make_case) -> Method:
    return Method(getattr(module, f"{name}_ours"), getattr(module, f"{name}_theirs"), case)


METHODS: dict[str, Method] = {
    **{name: _of(convs, name) for name in ("irnet", "bireal", "reactnet", "xnorpp", "siman", "recu", "reste", "rbnn",
                                           "bidet")},
    "adabin": _of(convs, "adabin", convs.adabin_case),
    **{name: _of(units, name, getattr(units, f"{name}_case")) for name in ("bidense", "bisrnet", "bidiffsr", "es")},
}

__all__ = ["METHODS", "Case", "Method", "Result", "make_case"]
