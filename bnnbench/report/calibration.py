"""Whether a proxy can judge its table at all: the calibration verdict printed before the orderings.

A proxy (narrow model, generated or bundled data, minutes of CPU) stands in for a paper's run
only if it behaves like one where the paper is unambiguous. Three criteria, for one metric column:

(a) the 32-bit row (the table's `fp_row`) is above every binary row beyond two standard errors
    of the seed means (se = sqrt(s_a^2 / n_a + s_b^2 / n_b));
(b) every binary row is far above chance: its mean minus two standard errors exceeds the chance
    level (the table's `chance`, in the column's unit on the proxy's data) by at least a quarter
    of the headroom above it (`best` - chance, `best` 100 for a percentage);
(c) the seed spread is smaller than the gaps being judged: every pair of rows with the paper's
    number is resolved beyond two standard errors (none within the spread, none with one seed).

(d) every row trained to convergence: each of its last epochs moved its training loss by at most
    5% of the loss's whole fall, down or up (`bnnbench.report.convergence`): a row whose loss
    climbs again at the end (a collapse) has not converged either.

A criterion the table gives no input for (no 32-bit row, no chance level) is not judged and
says so. The verdict is "calibrated" only when every judged criterion passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bnnbench.report.aggregate import ReportRow
from bnnbench.report.convergence import FLAT, LAST
from bnnbench.report.orderings import compare, standard_error
from bnnbench.report.paper_tables import PaperTable

K = 2.0  # standard errors


@dataclass(frozen=True)
class Criterion:
    """One criterion: its name, passed (None: not judged) and why."""

    name: str
    passed: bool | None
    detail: str


@dataclass(frozen=True)
class Calibration:
    """The three criteria of one column and the verdict."""

    column: str
    criteria: tuple[Criterion, ...]

    @property
    def calibrated(self) -> bool:
        """Every judged criterion passed (and at least one was judged)."""
        judged = [c for c in self.criteria if c.passed is not None]
        return bool(judged) and all(c.passed for c in judged)

    def summary(self) -> str:
        """Lines: the verdict, then each criterion."""
        failed = [c.name for c in self.criteria if c.passed is False]
        verdict = "calibrated" if self.calibrated else f"NOT calibrated ({', '.join(failed) or 'nothing judged'})"
        lines = [f"calibration ({self.column}): {verdict}"]
        for c in self.criteria:
            mark = {True: "pass", False: "FAIL", None: "not judged"}[c.passed]
            lines.append(f"  {c.name}: {mark}: {c.detail}")
        return "\n".join(lines)


def _above_fp(table: PaperTable, rows: list[ReportRow], column: str) -> Criterion:
    name = "(a) 32-bit above every binary row"
    fp = next((r for r in rows if r.label == table.fp_row and column in r.ours), None)
    if table.fp_row is None or fp is None:
        return Criterion(name, None, "the table names no 32-bit row" if table.fp_row is None
                         else f"no result for the 32-bit row {table.fp_row!r}")
    sign = 1.0 if table.column(column).higher_is_better else -1.0
    failing = []
    for r in rows:
        if r is fp or column not in r.ours:
            continue
        gap, se = sign * (fp.ours[column][0] - r.ours[column][0]), standard_error(fp, r, column)
        if math.isnan(se):  # a row of one seed has no spread to judge against
            failing.append(f"{r.label} ({gap:+.2f}, one seed: no spread)")
        elif gap <= K * se:
            failing.append(f"{r.label} ({gap:+.2f}, se {se:.2f})")
    if failing:
        return Criterion(name, False, "not above beyond 2 se: " + "; ".join(failing))
    return Criterion(name, True, f"{fp.label} above all {sum(column in r.ours for r in rows) - 1} binary rows beyond 2 se")


def _above_chance(table: PaperTable, rows: list[ReportRow], column: str) -> Criterion:
    name = "(b) every binary row far above chance"
    chance = table.chance.get(column)
    if chance is None:
        return Criterion(name, None, "the table declares no chance level for this column")
    best = table.best.get(column, 100.0)
    floor = chance + (best - chance) / 4
    failing = []
    for r in rows:
        if r.label == table.fp_row or column not in r.ours:
            continue
        mean, std = r.ours[column]
        low = mean - K * (std if not math.isnan(std) else math.inf) / math.sqrt(max(len(r.seeds), 1))
        if not low > floor:
            failing.append(f"{r.label} ({mean:.2f}{', one seed: no spread' if len(r.seeds) < 2 else ''})")
    detail = f"chance {chance:g}, floor {floor:g} (a quarter of the headroom above chance)"
    return Criterion(name, not failing, detail + ("; below: " + "; ".join(failing) if failing else ""))


def _spread(table: PaperTable, rows: list[ReportRow], column: str) -> Criterion:
    name = "(c) seed spread below the judged gaps"
    orderings = compare(table, rows, column, K)
    if not orderings.pairs:
        return Criterion(name, None, "no pair of rows has both our number and the paper's")
    open_ = [f"{p.a} vs {p.b}" for p in orderings.pairs if p.verdict in ("within spread", "spread unknown")]
    if open_:
        return Criterion(name, False, f"{len(open_)} of {len(orderings.pairs)} pairs not resolved: " + "; ".join(open_))
    return Criterion(name, True, f"all {len(orderings.pairs)} pairs resolved beyond 2 se")


def _converged(rows: list[ReportRow]) -> Criterion:
    name = "(d) every row trained to convergence"
    known = [r for r in rows if r.loss_slope is not None]
    if not known:
        return Criterion(name, None, "no training loss log (CSV logger) with enough epochs")
    moving = [f"{r.label} ({100 * r.loss_slope:.1f}%)" for r in known if abs(r.loss_slope) > FLAT]
    detail = (f"each of the last {LAST} epochs moved the loss by at most {100 * FLAT:.0f}% of its whole fall"
              if not moving else f"the loss still moves (share of its whole fall per epoch, last {LAST} epochs; "
              "negative: rising): " + "; ".join(moving))
    return Criterion(name, not moving, detail)


def calibrate(table: PaperTable, rows: list[ReportRow], column: str) -> Calibration:
    """The calibration of `column` over the report's rows."""
    ok = [r for r in rows if column in r.ours]
    return Calibration(column, (_above_fp(table, ok, column), _above_chance(table, ok, column), _spread(table, ok, column),
                                _converged(ok)))


__all__ = ["Calibration", "Criterion", "calibrate"]
