"""The report's calibration verdict: (a) the 32-bit row above every binary row beyond two standard
errors, (b) every binary row far above chance, (c) every judged pair resolved."""

from __future__ import annotations

import dataclasses
import math

import pytest

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
    assert cal.calibrated and [c.passed for c in cal.criteria] == [True, True, True, None]  # (d): no loss log
    assert cal.summary().startswith("calibration (m): calibrated")


def test_each_failing_criterion_is_named_with_its_numbers():
    # FP - A = 1 within 2 se (se 1); B at 30 (mean - 2 se = 28.6) is below the floor 32.5; A vs B
    # resolved but FP vs A not
    rows = [_row("FP", 81, 1), _row("A", 80, 1), _row("B", 30, 1)]
    cal = calibrate(_table(fp_row="FP", chance={"m": 10.0}), rows, "m")
    assert not cal.calibrated and [c.passed for c in cal.criteria] == [False, False, False, None]
    text = cal.summary()
    assert "NOT calibrated ((a) 32-bit above every binary row, (b) every binary row far above chance, (c)" in text
    assert "A (+1.00, se 1.00)" in text and "below: B (30.00)" in text and "FP vs A" in text


def test_without_a_32_bit_row_or_chance_level_those_criteria_are_not_judged():
    rows = [_row("FP", 90, 1), _row("A", 80, 1), _row("B", 60, 1)]
    cal = calibrate(_table(), rows, "m")
    assert [c.passed for c in cal.criteria] == [None, None, True, None] and cal.calibrated
    one_seed = [dataclasses.replace(r, seeds=[0], ours={"m": (r.ours["m"][0], math.nan)}) for r in rows]
    assert calibrate(_table(), one_seed, "m").criteria[2].passed is False  # one seed: the spread is unknown
    # with a 32-bit row and a chance level, one seed fails (a) and (b) and says that it is why
    text = calibrate(_table(fp_row="FP", chance={"m": 10.0}), one_seed, "m").summary()
    assert "A (+10.00, one seed: no spread)" in text and "below: A (80.00, one seed: no spread)" in text


def test_convergence_is_the_share_of_the_loss_fall_the_last_epochs_still_make(tmp_path):
    from bnnbench.report.convergence import epoch_losses, remaining_slope

    # L = 2.0, 1.0, 0.5, 0.4, 0.3, 0.2: the last 3 epochs fell 0.5 - 0.2 = 0.3 of the whole 1.8,
    # 0.1 / 1.8 = 5.6% per epoch
    assert remaining_slope([2.0, 1.0, 0.5, 0.4, 0.3, 0.2]) == pytest.approx(0.3 / 3 / 1.8)
    assert remaining_slope([2.0, 1.0, 0.5]) is None  # fewer than 4 epochs
    log = tmp_path / "metrics.csv"
    log.write_text("epoch,step,train/loss,val/top1\n0,1,3.0,\n0,2,1.0,\n0,2,,0.5\n1,3,0.5,\n")
    assert epoch_losses(log) == [2.0, 0.5]
    rows = [dataclasses.replace(_row(label, m, 1), loss_slope=s) for label, m, s in (("FP", 90, 0.01), ("A", 80, 0.2), ("B", 60, 0.0))]
    cal = calibrate(_table(fp_row="FP"), rows, "m")
    assert cal.criteria[3].passed is False and "A (20.0%)" in cal.criteria[3].detail
    # a loss that climbs again at the end (a collapsed row) has not converged either:
    # L = 2.0, 1.0, 0.5, 0.6, 0.7, 0.8 rose 0.3 over the last 3 epochs of a 1.2 fall, -8.3% per epoch
    rising = remaining_slope([2.0, 1.0, 0.5, 0.6, 0.7, 0.8])
    assert rising == pytest.approx(-0.3 / 3 / 1.2)
    rows = [dataclasses.replace(_row(label, m, 1), loss_slope=s) for label, m, s in (("FP", 90, 0.01), ("A", 10, rising))]
    cal = calibrate(_table(fp_row="FP"), rows, "m")
    assert cal.criteria[3].passed is False and "A (-8.3%)" in cal.criteria[3].detail and "rising" in cal.criteria[3].detail
    flat_down = [dataclasses.replace(_row("FP", 90, 1), loss_slope=-0.04)]  # within 5% either way: converged
    assert calibrate(_table(fp_row="FP"), flat_down, "m").criteria[3].passed is True
