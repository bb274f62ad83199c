"""DF2K (DIV2K 800 + Flickr2K 2650 training images) for x2 / x`scale` super-resolution.

`root/HR/<name>.png` with `root/LR_bicubic/X<scale>/<name>x<scale>.png` (BI-DiffSR's
options/train/train_BI_DiffSR_x2.yml: `filename_tmpl: '{}x2'`); training takes random paired
crops of `patch_size` HR pixels with flips and transposes, each image `repeats` times an epoch
(BasicSR's `dataset_enlarge_ratio`, 100 in BI-DiffSR's recipe). Validation and test: a benchmark set (`sr_benchmark`'s
layout under `benchmark_root`), whole images one at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bnnbench.data import DATASETS
from bnnbench.data.base import require_dir, require_file
from bnnbench.data.sr_benchmark import BENCHMARKS, benchmark_pairs
from bnnbench.data.sr_pairs import PairedSRDataset, SRDataModule, check_pair_sizes, check_patch_fits

LAYOUT = """\
root/                                  (DF2K: DIV2K and Flickr2K training images together)
  HR/<name>.png                        HR images
  LR_bicubic/X2/<name>x2.png           LR images (MATLAB bicubic), the HR size / 2 (rounded down)
benchmark_root/Set5/HR/..., Set5/LR_bicubic/X2/...   validation / test set (see sr_benchmark)"""


@DATASETS.register("df2k")
class DF2KDataModule(SRDataModule):
    """DF2K training pairs; validation and test on a benchmark set (Set5 by default)."""

    loader_defaults = {"batch_size": 16, "eval_batch_size": 1, "num_workers": 4}

    def __init__(
        self,
        root: str | None = None,
        benchmark_root: str | None = None,
        test_set: str = "Set5",
        scale: int = 2,
        patch_size: int = 128,
        repeats: int = 100,
        image_size: Sequence[int] | None = None,
        **loader: Any,
    ) -> None:
        """`patch_size`: the HR side of the training crops (BI-DiffSR: 128); `image_size`: what cost
        is counted at (default the training crop)."""
        size = image_size or (patch_size, patch_size)
        super().__init__(image_size=size, **loader)
        if patch_size % scale or patch_size < scale:
            raise ValueError(f"df2k: patch_size must be a positive multiple of scale={scale}, got {patch_size}")
        if test_set not in BENCHMARKS:
            raise ValueError(f"df2k: test_set must be one of {', '.join(BENCHMARKS)}, got {test_set!r}")
        if repeats < 1:
            raise ValueError(f"df2k: repeats must be >= 1, got {repeats}")
        self.root, self.benchmark_root, self.test_set_name = root, benchmark_root, test_set
        self.scale, self.patch_size, self.repeats = scale, patch_size, repeats

    def setup(self, stage: str | None = None) -> None:
        """Index DF2K and the benchmark set; a missing folder or file, or an LR/HR size mismatch,
        stops here, named."""
        if self.train_set is not None:
            return
        root = require_dir(self.root, LAYOUT, "df2k")
        hr_dir = require_dir(root / "HR", LAYOUT, "df2k")
        lr_dir = require_dir(root / "LR_bicubic" / f"X{self.scale}", LAYOUT, "df2k")
        hr_files = sorted(p for p in hr_dir.iterdir() if p.suffix.lower() == ".png")
        if not hr_files:
            raise FileNotFoundError(f"df2k: no PNG images in {hr_dir}; expected layout:\n{LAYOUT}")
        pairs = [(require_file(lr_dir / f"{hr.stem}x{self.scale}.png", LAYOUT, "df2k"), hr) for hr in hr_files]
        check_pair_sizes(pairs, self.scale, "df2k")
        check_patch_fits(pairs, self.patch_size, self.scale, "df2k")
        bench = require_dir(self.benchmark_root, LAYOUT, "df2k", key="data.benchmark_root")
        test = benchmark_pairs(bench, self.test_set_name, self.scale, "df2k (benchmark_root)")
        self.train_set = PairedSRDataset(pairs, self.scale, "df2k", self.patch_size, self.repeats)
        self.test_set = PairedSRDataset(test, self.scale, "df2k (benchmark_root)")
        self.val_set = self.test_set


__all__ = ["DF2KDataModule"]
