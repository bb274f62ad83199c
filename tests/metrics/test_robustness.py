"""Robustness scores (Hendrycks & Dietterich 2019, Sec. 4): the grid mean and mCE against a reference."""

from __future__ import annotations

import math

import pytest

from bnnbench.metrics.robustness import by_severity, cells, error, grid_mean, mce


def test_cells_are_read_from_the_summary_keys():
    summary = {"robust/fog/1": 0.5, "robust/fog/2": 0.25, "robust/mean": 0.375, "robust/metric": "test/top1",
               "test/top1": 0.9}
    assert cells(summary) == {("fog", 1): 0.5, ("fog", 2): 0.25}


def test_errors_fall_as_the_model_gets_better():
    assert error("test/top1", 0.75, True) == 0.25
    assert error("test/abs_rel", 0.2, False) == 0.2
    assert error("test/psnr_y", 20.0, True) == pytest.approx(0.01)  # 10^(-PSNR/10): the MSE over the peak


def test_mce_by_hand():
    # two corruptions x two severities, accuracies; errors ours (0.2+0.4), (0.1+0.1); reference
    # (0.4+0.8), (0.1+0.3): CE_fog = 0.6/1.2 = 0.5, CE_snow = 0.2/0.4 = 0.5 -> mCE 50 %
    ours = {("fog", 1): 0.8, ("fog", 2): 0.6, ("snow", 1): 0.9, ("snow", 2): 0.9}
    ref = {("fog", 1): 0.6, ("fog", 2): 0.2, ("snow", 1): 0.9, ("snow", 2): 0.7}
    assert mce(ours, ref, "test/top1", True) == pytest.approx(50.0)
    assert mce(ref, ref, "test/top1", True) == pytest.approx(100.0)
    assert grid_mean(ours) == pytest.approx(0.8)
    assert by_severity(ours) == {1: pytest.approx(0.85), 2: pytest.approx(0.75)}
    assert mce(ours, {("zoom_blur", 1): 0.5}, "test/top1", True) is None  # no shared cell
    # lower-is-better (AbsRel): the error is the value
    assert mce({("fog", 1): 0.3}, {("fog", 1): 0.2}, "test/abs_rel", False) == pytest.approx(150.0)
    assert math.isclose(mce({("fog", 1): 20.0}, {("fog", 1): 10.0}, "test/psnr_y", True), 10.0)
