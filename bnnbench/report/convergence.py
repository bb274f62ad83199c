"""Whether a job trained to convergence: the fall of its training loss over the last epochs.

From the CSV logger's `metrics.csv` (`train/loss` every few steps), the loss is averaged per
epoch, L_0 ... L_E. The remaining slope s = (L_{E-k} - L_E) / k / (L_0 - L_E) is the share of
the whole fall of the loss that each of the last k epochs still made: near 0 when the loss has
flattened, 1 / E or more while it still falls as fast as ever. The report shows it per row
(mean over seeds) and its calibration names rows whose |s| is above `FLAT` (negative s: the
loss rises again, as in a collapse).
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from pathlib import Path

LAST = 3  # epochs
FLAT = 0.05  # a row whose last epochs each still make more than 5% of the loss's whole fall is not converged


def epoch_losses(metrics_csv: Path) -> list[float]:
    """The mean `train/loss` of each epoch, in order (empty without a readable file)."""
    if not metrics_csv.is_file():
        return []
    per: dict[int, list[float]] = defaultdict(list)
    with metrics_csv.open(newline="") as f:
        for row in csv.DictReader(f):
            loss, epoch = row.get("train/loss"), row.get("epoch")
            if loss and epoch:
                per[int(float(epoch))].append(float(loss))
    return [statistics.fmean(per[e]) for e in sorted(per)]


def remaining_slope(losses: list[float], last: int = LAST) -> float | None:
    """s = (L_{E-k} - L_E) / k / (L_0 - L_E); None with fewer than k + 1 epochs or no fall at all."""
    if len(losses) < last + 1:
        return None
    fall = losses[0] - losses[-1]
    if fall <= 0:
        return None
    return (losses[-1 - last] - losses[-1]) / last / fall


def job_slope(job_dir: Path) -> float | None:
    """The remaining slope of a job's training loss (None: no CSV log or too few epochs)."""
    return remaining_slope(epoch_losses(job_dir / "metrics.csv"))


__all__ = ["FLAT", "LAST", "epoch_losses", "job_slope", "remaining_slope"]
