"""Standard monocular-depth metrics (Eigen et al. 2014; BTS evaluation), averaged per image."""

from __future__ import annotations

import torch
from torchmetrics import Metric

from bnnbench.metrics.eval_crops import check_eval_crop, eval_crop_mask

DEPTH_METRIC_NAMES: tuple[str, ...] = (
    "d1",
    "d2",
    "d3",
    "abs_rel",
    "sq_rel",
    "rmse",
    "rmse_log",
    "log10",
    "silog",
)


class DepthMetrics(Metric):
    """d1-d3, AbsRel, SqRel, RMSE, RMSE log, log10 and SILog, each per image then averaged.

    As in the BTS/AdaBins evaluation: predictions are clamped to [min_depth, max_depth]
    (NaN -> min, +inf -> max), valid pixels are min_depth < gt < max_depth inside the named
    eval crop, and images without a valid pixel are skipped.
    """

    is_differentiable = False
    higher_is_better = None  # mixed: d1-d3 up, errors down
    full_state_update = False

    def __init__(
        self,
        min_depth: float = 1e-3,
        max_depth: float = 10.0,
        eval_crop: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not 0 < min_depth < max_depth:
            raise ValueError(f"need 0 < min_depth < max_depth, got {min_depth}, {max_depth}")
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)
        self.eval_crop = check_eval_crop(eval_crop)
        for name in DEPTH_METRIC_NAMES:
            self.add_state(
                name, default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum"
            )
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch: pred and target of shape (B,1,H,W), (B,H,W) or (H,W), in metres."""
        if pred.shape != target.shape:
            raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
        height, width = target.shape[-2:]
        # float64: the SILog variance mean(e^2) - mean(e)^2 cancels badly in float32
        gt = target.detach().reshape(-1, height * width).double()
        pr = pred.detach().reshape(-1, height * width).double()
        pr = torch.nan_to_num(pr, nan=self.min_depth, posinf=self.max_depth, neginf=self.min_depth)
        pr = pr.clamp(self.min_depth, self.max_depth)

        crop = eval_crop_mask(self.eval_crop, height, width, device=gt.device).reshape(1, -1)
        valid = (gt > self.min_depth) & (gt < self.max_depth) & crop
        n = valid.sum(dim=1)
        keep = n > 0
        if not keep.any():
            return
        gt, pr, valid, n = gt[keep], pr[keep], valid[keep], n[keep].double()
        gt = torch.where(valid, gt, torch.ones_like(gt))  # placeholders keep logs/divisions finite
        pr = torch.where(valid, pr, torch.ones_like(pr))

        def mean(x: torch.Tensor) -> torch.Tensor:
            return torch.where(valid, x, torch.zeros_like(x)).sum(dim=1) / n

        ratio = torch.maximum(gt / pr, pr / gt)
        err_log = torch.log(pr) - torch.log(gt)
        per_image = {
            "d1": mean((ratio < 1.25).double()),
            "d2": mean((ratio < 1.25**2).double()),
            "d3": mean((ratio < 1.25**3).double()),
            "abs_rel": mean((gt - pr).abs() / gt),
            "sq_rel": mean((gt - pr) ** 2 / gt),
            "rmse": mean((gt - pr) ** 2).sqrt(),
            "rmse_log": mean(err_log**2).sqrt(),
            "log10": mean((torch.log10(pr) - torch.log10(gt)).abs()),
            "silog": (mean(err_log**2) - mean(err_log) ** 2).clamp_min(0).sqrt() * 100,
        }
        for name, values in per_image.items():
            setattr(self, name, getattr(self, name) + values.sum())
        self.count += int(keep.sum())

    def compute(self) -> dict[str, torch.Tensor]:
        """Mean of each metric over the images seen (NaN when none had a valid pixel)."""
        count = self.count.double()
        return {name: (getattr(self, name) / count).float() for name in DEPTH_METRIC_NAMES}
