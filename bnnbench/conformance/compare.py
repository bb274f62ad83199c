"""Compare bnnbench's quantities with the authors' (or with golden tensors written from them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from bnnbench.conformance.methods import METHODS, Case, Result
from bnnbench.core.checkpoint import load_checkpoint

# float64 on both sides: agreement to about 1e-12 of the quantity's scale is a match
RTOL = 1e-10
# differences the project documents (docs/methods.md), reported as such rather than as DIFF,
# each with the largest difference it explains
DOCUMENTED: dict[tuple[str, str], tuple[float, str]] = {
    ("rbnn", "dx"): (1e-6, "the code's activation surrogate takes k = 1 and t = max(t, 1) as float32 tensors: "
                           "sqrt(2) rounded to float32 (2.4e-8) even in a float64 run"),
}


@dataclass(frozen=True)
class Row:
    """One quantity of one method: the largest difference and what it means."""

    method: str
    quantity: str
    max_diff: float | None
    status: str  # MATCH | DIFF | documented deviation | missing | unavailable
    note: str = ""


def compare(method: str, ours: Result, theirs: Result) -> list[Row]:
    """A row per quantity of `theirs`: MATCH when |ours - theirs| <= RTOL * max(1, max|theirs|)."""
    rows = []
    for quantity, ref in theirs.items():
        mine = ours.get(quantity)
        if mine is None:
            rows.append(Row(method, quantity, None, "missing", "bnnbench does not expose it"))
            continue
        diff = float((mine.to(torch.float64) - ref.to(torch.float64)).abs().max()) if ref.numel() else 0.0
        scale = max(1.0, float(ref.abs().max())) if ref.numel() else 1.0
        if mine.shape != ref.shape:
            rows.append(Row(method, quantity, None, "DIFF", f"shape {tuple(mine.shape)} vs {tuple(ref.shape)}"))
        elif diff <= RTOL * scale:
            rows.append(Row(method, quantity, diff, "MATCH"))
        elif (method, quantity) in DOCUMENTED and diff <= DOCUMENTED[(method, quantity)][0] * scale:
            rows.append(Row(method, quantity, diff, "documented deviation", DOCUMENTED[(method, quantity)][1]))
        else:
            rows.append(Row(method, quantity, diff, "DIFF"))
    return rows


def golden_path(folder: Path, method: str) -> Path:
    """Where a method's golden tensors live."""
    return folder / f"{method}.pt"


def write_golden(folder: Path, method: str, case: Case, theirs: Result, commit: str) -> Path:
    """Save the case and the authors' quantities (tensors and numbers only: loads weights-only)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = golden_path(folder, method)
    torch.save({"method": method, "commit": commit, "case": case, "theirs": theirs}, path)
    return path


def check_golden(path: Path) -> list[Row]:
    """Run bnnbench's side on a golden file's case and compare with the authors' stored quantities."""
    golden = load_checkpoint(path, "golden")
    method = golden["method"]
    ours: Result = METHODS[method].ours(golden["case"])
    theirs: dict[str, Tensor] = golden["theirs"]
    return compare(method, ours, theirs)


__all__ = ["DOCUMENTED", "RTOL", "Row", "check_golden", "compare", "golden_path", "write_golden"]
