"""Task losses that torch does not provide: the scale-invariant log (SILog) depth loss."""

from __future__ import annotations

import torch
from torch import nn


class SILogLoss(nn.Module):
    """BTS SILog loss: `scale * sqrt(mean(d^2) - variance_focus * mean(d)^2)`, d = ln pred - ln gt.

    Averaged over the valid pixels of the whole batch (min_depth < gt < max_depth), as in BTS
    and BiDense. variance_focus = 1 is fully scale invariant; 0 is the RMSE of the log depth.
    """

    def __init__(
        self,
        variance_focus: float = 0.85,
        scale: float = 10.0,
        min_depth: float = 1e-3,
        max_depth: float = 10.0,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.variance_focus = variance_focus
        self.scale = scale
        self.min_depth = min_depth
        self.max_depth = max_depth
        self.eps = eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of a predicted depth against ground truth of the same shape (0 = no GT)."""
        valid = (target > self.min_depth) & (target < self.max_depth)
        if not valid.any():
            return pred.sum() * 0.0  # keeps the graph (and DDP) intact on a batch without GT
        # eps guards log(0) from a saturated sigmoid head
        d = torch.log(pred[valid].clamp_min(self.eps)) - torch.log(target[valid])
        var = (d**2).mean() - self.variance_focus * d.mean() ** 2
        # clamp: a perfect prediction gives var = 0 exactly, where sqrt has an infinite slope
        return self.scale * var.clamp_min(1e-12).sqrt()
