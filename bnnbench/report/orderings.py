"""Which of a paper's orderings a sweep reproduces, and which of them its seed spread can resolve.

A proxy run is read against a paper by its orderings (is row A above row B, as in the paper?),
not by its absolute numbers. For every pair of rows that both have our mean and the paper's
number, the gap of the means is compared with its standard error over seeds,
se = sqrt(s_a^2 / n_a + s_b^2 / n_b): a gap larger than `k` standard errors (k = 2 by default,
about a 95% two-sided interval) is *resolved*; smaller gaps are within the seed spread. With one
seed per row the spread is unknown and no pair is resolved. Kendall's tau (scipy) summarises the
agreement of the two rankings.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from scipy.stats import kendalltau

from bnnbench.report.aggregate import ReportRow
from bnnbench.report.paper_tables import PaperTable


@dataclass(frozen=True)
class Pair:
    """One pair of rows: the paper's gap (a - b, positive = a better), ours, its standard error, the verdict."""

    a: str
    b: str
    paper_gap: float
    ours_gap: float
    se: float  # nan when a row has a single seed
    verdict: str  # reproduced | reversed | within spread | spread unknown


@dataclass(frozen=True)
class Orderings:
    """All pairs of one metric column, and Kendall's tau between our ranking and the paper's."""

    column: str
    pairs: tuple[Pair, ...]
    tau: float  # nan with fewer than two rows

    def count(self, verdict: str) -> int:
        """How many pairs have `verdict` (reproduced, reversed, within spread or spread unknown)."""
        return sum(p.verdict == verdict for p in self.pairs)

    def summary(self) -> str:
        """One line: pairs in the paper's order, resolved either way, within the spread, and tau."""
        n = len(self.pairs)
        if not n:
            return f"orderings ({self.column}): no pair of rows has both our number and the paper's"
        agree = sum(p.ours_gap * p.paper_gap > 0 for p in self.pairs)
        text = (f"orderings ({self.column}): {agree} of {n} pairs of rows in the paper's order; "
                f"resolved beyond 2 standard errors of the seeds: {self.count('reproduced')} reproduced, "
                f"{self.count('reversed')} reversed; {self.count('within spread')} within the seed spread")
        unknown = self.count("spread unknown")
        if unknown:
            text += f"; {unknown} with one seed (spread unknown)"
        return text + (f"; Kendall tau {self.tau:+.2f}" if not math.isnan(self.tau) else "")


def standard_error(a: ReportRow, b: ReportRow, column: str) -> float:
    """se of the gap of two rows' seed means in `column`: sqrt(s_a^2 / n_a + s_b^2 / n_b) (nan
    when a row has a single seed)."""
    (_, sa), (_, sb) = a.ours[column], b.ours[column]
    return math.sqrt(sa**2 / max(len(a.seeds), 1) + sb**2 / max(len(b.seeds), 1))


def _better(value: float, higher_is_better: bool) -> float:
    return value if higher_is_better else -value


def compare(table: PaperTable, rows: list[ReportRow], column: str, k: float = 2.0) -> Orderings:
    """Every pair of `rows` with our mean and the paper's number in `column`, judged at `k` standard errors."""
    col = table.column(column)
    scored = [r for r in rows if column in r.ours and r.paper.get(column) is not None]
    pairs = []
    for ra, rb in combinations(scored, 2):
        paper_gap = _better(float(ra.paper[column]) - float(rb.paper[column]), col.higher_is_better)
        if paper_gap == 0:
            continue  # the paper orders nothing here
        ours_gap = _better(ra.ours[column][0] - rb.ours[column][0], col.higher_is_better)
        se = standard_error(ra, rb, column)
        if math.isnan(se):
            verdict = "spread unknown"
        elif abs(ours_gap) <= k * se:
            verdict = "within spread"
        else:
            verdict = "reproduced" if ours_gap * paper_gap > 0 else "reversed"
        pairs.append(Pair(ra.label, rb.label, paper_gap, ours_gap, se, verdict))
    tau = math.nan
    if len(scored) >= 2:
        tau = float(kendalltau([r.ours[column][0] for r in scored], [float(r.paper[column]) for r in scored]).statistic)
    return Orderings(column, tuple(pairs), tau)


def write_csv(orderings: Orderings, path: Path) -> Path:
    """All pairs of `orderings` as CSV (a, b, paper gap, our gap, standard error, verdict)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["a", "b", "paper_gap", "ours_gap", "se", "verdict"])
        for p in orderings.pairs:
            writer.writerow([p.a, p.b, f"{p.paper_gap:.4g}", f"{p.ours_gap:.4g}", f"{p.se:.4g}", p.verdict])
    return path
