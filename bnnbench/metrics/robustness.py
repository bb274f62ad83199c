"""Scores of a model tested under a grid of corruptions: the mean over the grid and the
corruption error relative to a reference model (mCE, Hendrycks & Dietterich 2019, Sec. 4).

mCE: for each corruption c, CE_c = sum_s E(c, s) / sum_s E_ref(c, s) over its severities s,
then the mean over corruptions, in percent (100: as robust as the reference; lower is better).
E is the task's error: 1 - metric for a score in [0, 1] where higher is better (accuracy, mIoU,
mAP, SSIM), the metric itself where lower is better (AbsRel, RMSE), and the mean squared error
10^(-PSNR/10) (relative to the peak) for PSNR, so that every E is positive and falls as the
model gets better.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping

CELL_PREFIX = "robust/"  # summary keys robust/<corruption>/<severity>: the task's metric in that cell


def error(metric: str, value: float, higher_is_better: bool) -> float:
    """The task's error for a metric value (see the module docstring)."""
    if "psnr" in metric.lower():
        return 10 ** (-value / 10)
    return 1.0 - value if higher_is_better else value


def cells(summary: Mapping[str, object]) -> dict[tuple[str, int], float]:
    """{(corruption, severity): metric} from a summary's robust/<corruption>/<severity> keys."""
    out = {}
    for key, value in summary.items():
        parts = key.split("/")
        if len(parts) == 3 and key.startswith(CELL_PREFIX) and parts[2].isdigit() and isinstance(value, (int, float)):
            out[(parts[1], int(parts[2]))] = float(value)
    return out


def grid_mean(grid: Mapping[tuple[str, int], float]) -> float:
    """The metric's mean over every cell of the grid."""
    return statistics.fmean(grid.values())


def by_severity(grid: Mapping[tuple[str, int], float]) -> dict[int, float]:
    """The metric's mean over corruptions at each severity."""
    severities = sorted({s for _, s in grid})
    return {s: statistics.fmean(v for (_, t), v in grid.items() if t == s) for s in severities}


def mce(grid: Mapping[tuple[str, int], float], reference: Mapping[tuple[str, int], float], metric: str,
        higher_is_better: bool) -> float | None:
    """mCE (%) of `grid` relative to `reference` over the cells both have; None when none are shared."""
    shared = sorted(set(grid) & set(reference))
    corruptions = sorted({c for c, _ in shared})
    if not corruptions:
        return None
    ratios = []
    for c in corruptions:
        mine = sum(error(metric, grid[k], higher_is_better) for k in shared if k[0] == c)
        ref = sum(error(metric, reference[k], higher_is_better) for k in shared if k[0] == c)
        if ref <= 0:
            return None  # a perfect reference: no ratio
        ratios.append(mine / ref)
    return 100.0 * statistics.fmean(ratios)


__all__ = ["CELL_PREFIX", "by_severity", "cells", "error", "grid_mean", "mce"]
