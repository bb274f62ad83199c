"""The super-resolution test sets (Set5, Set14, B100, Urban100, Manga109) in their BasicSR layout.

`root/<set>/HR/<name>.png` with `root/<set>/LR_bicubic/X<scale>/<name>x<scale>.png`, Manga109's LR
named `<name>_LRBI_x<scale>.png` (the names of the packaged benchmark archives BI-DiffSR and BasicSR
read). A test set only: it scores a trained model (`mode=test ckpt_path=...`); training reads
`df2k`, which validates and tests on one of these sets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bnnbench.data import DATASETS
from bnnbench.data.base import require_dir, require_file
from bnnbench.data.sr_pairs import Pair, PairedSRDataset, SRDataModule, check_pair_sizes

BENCHMARKS = ("Set5", "Set14", "B100", "Urban100", "Manga109")
LR_TEMPLATES = {"Manga109": "{name}_LRBI_x{scale}"}  # the others: "{name}x{scale}"
LAYOUT = """\
root/                                  (the benchmark folder)
  Set5/HR/<name>.png                   HR images
  Set5/LR_bicubic/X2/<name>x2.png      LR images (MATLAB bicubic), the HR size / 2 (rounded down)
  B100/..., Urban100/..., Set14/...    the same
  Manga109/LR_bicubic/X2/<name>_LRBI_x2.png"""


def benchmark_pairs(root: Path, name: str, scale: int, dataset: str, lr_template: str | None = None) -> list[Pair]:
    """(LR, HR) files of benchmark `name` under `root`: every HR image needs its LR file; sizes
    are checked from the headers. A missing folder or file, or a size mismatch, names it."""
    folder = require_dir(root / name, LAYOUT, dataset)
    hr_dir = require_dir(folder / "HR", LAYOUT, dataset)
    lr_dir = require_dir(folder / "LR_bicubic" / f"X{scale}", LAYOUT, dataset)
    template = lr_template or LR_TEMPLATES.get(name, "{name}x{scale}")
    hr_files = sorted(p for p in hr_dir.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"))
    if not hr_files:
        raise FileNotFoundError(f"{dataset}: no images in {hr_dir}; expected layout:\n{LAYOUT}")
    pairs = []
    for hr in hr_files:
        lr = lr_dir / (template.format(name=hr.stem, scale=scale) + hr.suffix)
        pairs.append((require_file(lr, LAYOUT, dataset), hr))
    check_pair_sizes(pairs, scale, dataset)
    return pairs


@DATASETS.register("sr_benchmark")
class SRBenchmarkDataModule(SRDataModule):
    """An SR benchmark (Set5, Set14, B100, Urban100, Manga109) as the val and test split; test only."""

    loader_defaults = {"batch_size": 1, "eval_batch_size": 1, "image_size": (256, 256)}

    def __init__(
        self,
        root: str | None = None,
        test_set: str = "Set5",
        scale: int = 2,
        lr_template: str | None = None,
        **loader: Any,
    ) -> None:
        """`image_size`: what cost is counted at; `lr_template`: the LR file stem, e.g.
        "{name}x{scale}" (default: the set's own naming)."""
        super().__init__(**loader)
        if test_set not in BENCHMARKS and lr_template is None:
            raise ValueError(f"sr_benchmark: test_set must be one of {', '.join(BENCHMARKS)} (or give lr_template for "
                             f"another folder), got {test_set!r}")
        self.root, self.test_set_name, self.scale, self.lr_template = root, test_set, scale, lr_template

    def setup(self, stage: str | None = None) -> None:
        """Index the set; a missing folder or file, or an LR/HR size mismatch, stops here, named."""
        if self.test_set is not None:
            return
        root = require_dir(self.root, LAYOUT, "sr_benchmark")
        pairs = benchmark_pairs(root, self.test_set_name, self.scale, "sr_benchmark", self.lr_template)
        self.test_set = PairedSRDataset(pairs, self.scale, "sr_benchmark")
        self.val_set = self.test_set

    def train_dataloader(self):  # noqa: ANN201 - Lightning's signature
        """Refused: a benchmark is a test set."""
        raise ValueError("sr_benchmark is a test set: train with data=df2k (it validates and tests on a benchmark "
                         "set) and score other sets with mode=test ckpt_path=<run>/checkpoints/best.ckpt data=sr_benchmark")


__all__ = ["BENCHMARKS", "SRBenchmarkDataModule", "benchmark_pairs"]
