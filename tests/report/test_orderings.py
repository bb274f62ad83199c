"""The report's ordering check: pairs of rows judged against the seed spread, and Kendall's tau."""

from __future__ import annotations

import math

import pytest

from bnnbench.report.aggregate import ReportRow
from bnnbench.report.orderings import compare, write_csv
from bnnbench.report.paper_tables import Column, PaperTable, Row


def _table(higher_is_better: bool = True) -> PaperTable:
    rows = tuple(Row(label, {"row": label}, {"d": {"m": v}}) for label, v in (("A", 30.0), ("B", 20.0), ("C", 10.0)))
    return PaperTable("t", "P", "Table 0", "c", "e", ("d",), (Column("m", "test/m", 1.0, higher_is_better),), rows)


def _row(label: str, mean: float, std: float, seeds: int, paper: float) -> ReportRow:
    return ReportRow(label, "ok", list(range(seeds)), {"m": (mean, std)}, {}, {"m": paper})


def test_pairs_are_judged_by_two_standard_errors_of_the_seed_means():
    # A > B > C in the paper. Ours: A - B = 5 with se = sqrt(1/2 + 1/2) = 1 -> reproduced;
    # B - C = -1 with se = 1 -> within spread; A - C = 4 > 2 -> reproduced.
    rows = [_row("A", 15.0, 1.0, 2, 30.0), _row("B", 10.0, 1.0, 2, 20.0), _row("C", 11.0, 1.0, 2, 10.0)]
    o = compare(_table(), rows, "m")
    verdicts = {(p.a, p.b): p.verdict for p in o.pairs}
    assert verdicts == {("A", "B"): "reproduced", ("A", "C"): "reproduced", ("B", "C"): "within spread"}
    assert [p.se for p in o.pairs] == pytest.approx([1.0, 1.0, 1.0])
    # ours ranks A, C, B against the paper's A, B, C: 2 concordant, 1 discordant of 3 -> tau 1/3
    assert o.tau == pytest.approx(1 / 3)
    assert "2 of 3 pairs" in o.summary() and "2 reproduced, 0 reversed; 1 within" in o.summary()


def test_a_resolved_reversal_and_lower_is_better():
    # Lower is better (an error): the paper's C (10) is best. Ours puts C worst by 10 with se 0.5.
    rows = [_row("A", 5.0, 0.5, 2, 30.0), _row("B", 10.0, 0.5, 2, 20.0), _row("C", 20.0, 0.5, 2, 10.0)]
    o = compare(_table(higher_is_better=False), rows, "m")
    assert all(p.verdict == "reversed" for p in o.pairs) and len(o.pairs) == 3
    assert o.tau == pytest.approx(-1.0)


def test_one_seed_leaves_the_spread_unknown_and_missing_rows_are_skipped(tmp_path):
    rows = [_row("A", 1.0, math.nan, 1, 30.0), _row("B", 0.0, math.nan, 1, 20.0),
            ReportRow("C", "missing", paper={"m": 10.0})]
    o = compare(_table(), rows, "m")
    assert [(p.a, p.b, p.verdict) for p in o.pairs] == [("A", "B", "spread unknown")]
    assert "1 with one seed (spread unknown)" in o.summary()
    lines = write_csv(o, tmp_path / "o.csv").read_text().splitlines()
    assert lines[0] == "a,b,paper_gap,ours_gap,se,verdict" and lines[1].startswith("A,B,10,1,nan,")
