"""PASCAL VOC 2012 segmentation (21 classes), optionally with the SBD "train_aug" set."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bnnbench.data import DATASETS
from bnnbench.data.base import require_dir, require_file
from bnnbench.data.file_dataset import Pair, check_pairs
from bnnbench.data.seg_files import SegFileDataModule

LAYOUT = """\
root/                                 (VOCdevkit/VOC2012)
  JPEGImages/<id>.jpg
  SegmentationClass/<id>.png          palette PNG, 0..20, 255 = border (ignored)
  ImageSets/Segmentation/train.txt    one <id> per line
  ImageSets/Segmentation/val.txt
optional SBD augmentation (10,582 train images):
  SegmentationClassAug/<id>.png       grey PNG, 0..20, 255
  ImageSets/Segmentation/train_aug.txt  (or SegmentationClassAug/train_aug.txt)
                                      lines "<id>" or "/JPEGImages/<id>.jpg /SegmentationClassAug/<id>.png\""""


def _under(root: Path, rel: str) -> Path:
    """A list entry relative to root; a leading '/' means root-relative, not absolute."""
    return root / rel.lstrip("/")


@DATASETS.register("voc")
class VOCDataModule(SegFileDataModule):
    """VOC2012; `use_aug`: None = use train_aug when present, True = require it, False = never."""

    name = "voc"
    layout = LAYOUT
    num_classes = 21

    loader_defaults = {"batch_size": 32, "eval_batch_size": 1, "image_size": (375, 500)}

    def __init__(
        self,
        root: str | None = None,
        base_size: int | None = None,
        scale_range: Sequence[float] = (0.5, 2.0),
        eval_short_side: int | None = None,
        use_aug: bool | None = None,
        val_holdout: float = 0.02,
        **loader: Any,
    ) -> None:
        super().__init__(root, base_size, scale_range, eval_short_side, val_holdout, **loader)
        self.use_aug = use_aug
        self.aug_used = False  # set by setup: whether the train split came from train_aug

    def aug_list(self, root: Path) -> Path | None:
        """The train_aug list if SegmentationClassAug and a list exist, else None."""
        if not (root / "SegmentationClassAug").is_dir():
            return None
        for path in (
            root / "ImageSets/Segmentation/train_aug.txt",
            root / "SegmentationClassAug/train_aug.txt",
        ):
            if path.is_file():
                return path
        return None

    def _ids(self, list_file: Path) -> list[str]:
        require_file(list_file, LAYOUT, self.name)
        return [line.split()[0] for line in list_file.read_text().splitlines() if line.strip()]

    def _aug_pairs(self, root: Path, list_file: Path, exclude: set[str]) -> list[Pair]:
        pairs = []
        for line in list_file.read_text().splitlines():
            parts = line.split()
            if not parts:
                continue
            if len(parts) >= 2:  # DeepLab format: image path, label path
                image, label = _under(root, parts[0]), _under(root, parts[1])
            else:
                image = root / "JPEGImages" / f"{parts[0]}.jpg"
                label = root / "SegmentationClassAug" / f"{parts[0]}.png"
            if image.stem not in exclude:  # keep val images out of training whatever the list says
                pairs.append((image, label))
        return pairs

    def list_pairs(self, root: Path, split: str) -> list[Pair]:
        """VOC ids from ImageSets/Segmentation/<split>.txt; train may come from train_aug."""
        seg_sets = root / "ImageSets" / "Segmentation"
        if split == "train" and self.use_aug is not False:
            aug = self.aug_list(root)
            if aug is None and self.use_aug:
                require_dir(root / "SegmentationClassAug", LAYOUT, self.name)
                require_file(seg_sets / "train_aug.txt", LAYOUT, self.name)
            if aug is not None:
                self.aug_used = True
                val_ids = set(self._ids(seg_sets / "val.txt"))
                return check_pairs(self._aug_pairs(root, aug, val_ids), LAYOUT, self.name, aug)
        list_file = seg_sets / f"{split}.txt"
        pairs = [
            (root / "JPEGImages" / f"{i}.jpg", root / "SegmentationClass" / f"{i}.png")
            for i in self._ids(list_file)
        ]
        return check_pairs(pairs, LAYOUT, self.name, list_file)
