"""ADE20K (SceneParsing / ADEChallengeData2016): 150 classes, label 0 ("other") ignored."""

from __future__ import annotations

from pathlib import Path

from bnnbench.data import DATASETS
from bnnbench.data.base import require_dir
from bnnbench.data.file_dataset import Pair, check_pairs
from bnnbench.data.seg_files import SegFileDataModule

LAYOUT = """\
root/                       (ADEChallengeData2016)
  images/
    training/*.jpg          ADE_train_00000001.jpg ...
    validation/*.jpg        ADE_val_00000001.jpg ...
  annotations/
    training/*.png          same stem as the image, uint8 labels 0..150
    validation/*.png"""

_SPLIT_DIRS = {"train": "training", "val": "validation"}


@DATASETS.register("ade20k")
class ADE20KDataModule(SegFileDataModule):
    """ADE20K scene parsing; reduce-zero-label: 0 -> 255 (ignore), k -> k - 1."""

    name = "ade20k"
    layout = LAYOUT
    num_classes = 150
    reduce_zero_label = True

    def list_pairs(self, root: Path, split: str) -> list[Pair]:
        """Every images/<split>/*.jpg with its annotations/<split>/<stem>.png."""
        folder = _SPLIT_DIRS[split]
        image_dir = require_dir(root / "images" / folder, LAYOUT, self.name)
        pairs = [
            (p, root / "annotations" / folder / f"{p.stem}.png")
            for p in sorted(image_dir.glob("*.jpg"))
        ]
        return check_pairs(pairs, LAYOUT, self.name, image_dir)
