"""The report's calibration verdict: (a) the 32-bit row above every binary row beyond two standard
errors, (b) every binary row far above chance, (c) every judged pair resolved."""

from __future__ import annotations

import dataclasses
import math

from bnnbench.report.aggregate import ReportRow
from bnnbench.report.calibration import calibrate
from bnnbench.report.paper_tables import Column, PaperTable, Row


def _table(**extra) -> PaperTable:
    rows = tuple(Row(label, {"row": label}, {"d": {"m": v}}) for label, v in (("FP", 90.0), ("A", 60.0), ("B", 50.0)))
    return PaperTable("t", "P", "Table 0", "c", "e", ("d",), (Column("m", "test/m", 100.0),), rows, **extra)


def _row(label: str, mean: float, std: float, seeds: int = 2) -> ReportRow:
    return ReportRow(label, "ok", list(range(seeds)), {"m": (mean, std)}, {}, {"m": {"FP": 90.0, "A": 60.0, "B": 50.0}[label]})


def test_a_proxy_that_behaves_like_the_paper_is_calibrated():
    # FP - A = 10, se = sqrt(1/2 + 1/2) = 1 > 2 se; A - B = 20; floor = 10 + (100 - 10) / 4 = 32.5,
    # B's mean - 2 se = 50 - 2 * 1 / sqrt(2) = 48.6 > 32.5
    rows = [_row("FP", 90, 1), _row("A", 80, 1), _row("B", 60, 1)]
    cal = calibrate(_table(fp_row="FP", chance={"m": 10.0}), rows, "m")
    assert cal.calibrated and [c.passed for c in cal.criteria] == [True, True, True]
    assert cal.summary().startswith("calibration (m): calibrated")


def test_each_failing_criterion_is_named_with_its_numbers():
    # FP - A = 1 within 2 se (se 1); B at 30 (mean - 2 se = 28.6) is below the floor 32.5; A vs B
    # resolved but FP vs A not
    rows = [_row("FP", 81, 1), _row("A", 80, 1), _row("B", 30, 1)]
    cal = calibrate(_table(fp_row="FP", chance={"m": 10.0}), rows, "m")
    assert not cal.calibrated and [c.passed for c in cal.criteria] == [False, False, False]
    text = cal.summary()
    assert "NOT calibrated ((a) 32-bit above every binary row, (b) every binary row far above chance, (c)" in text
    assert "A (+1.00, se 1.00)" in text and "below: B (30.00)" in text and "FP vs A" in text


def test_without_a_32_bit_row_or_chance_level_those_criteria_are_not_judged():
    rows = [_row("FP", 90, 1), _row("A", 80, 1), _row("B", 60, 1)]
    cal = calibrate(_table(), rows, "m")
    assert [c.passed for c in cal.criteria] == [None, None, True] and cal.calibrated
    one_seed = [dataclasses.replace(r, seeds=[0], ours={"m": (r.ours["m"][0], math.nan)}) for r in rows]
    assert calibrate(_table(), one_seed, "m").criteria[2].passed is False  # one seed: the spread is unknown
