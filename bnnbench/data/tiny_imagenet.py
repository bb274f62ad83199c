"""Tiny ImageNet (64x64, 200 classes) in the layout of the official tiny-imagenet-200.zip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bnnbench.data import DATASETS
from bnnbench.data.base import holdout, require_dir, require_file
from bnnbench.data.cls_base import (
    IMAGENET_STATS,
    ClsDataModule,
    ImageFileDataset,
    Stats,
    list_images,
)

LAYOUT = """root/                        (the unpacked tiny-imagenet-200 folder)
  wnids.txt                    one wnid per line; these are the classes
  train/
    n01443537/images/*.JPEG    one folder per wnid
    ...
  val/
    images/*.JPEG
    val_annotations.txt        tab-separated: file, wnid, x0, y0, x1, y1"""

NATIVE = (64, 64)


def read_wnids(path: Path) -> list[str]:
    """The class wnids listed in wnids.txt, sorted (the order ImageFolder would give)."""
    wnids = sorted({line.strip() for line in path.read_text().splitlines() if line.strip()})
    if not wnids:
        raise ValueError(f"tiny_imagenet: {path} lists no wnids; expected layout:\n{LAYOUT}")
    return wnids


def read_val_annotations(val_dir: Path, index: dict[str, int]) -> list[tuple[str, int]]:
    """(path, label) for each line of val_annotations.txt; every listed file must exist."""
    ann = val_dir / "val_annotations.txt"
    samples = []
    for number, line in enumerate(ann.read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2 or fields[1] not in index:
            raise ValueError(
                f"tiny_imagenet: {ann} line {number} is {line!r}: expected "
                f"'file<TAB>wnid<TAB>x0<TAB>y0<TAB>x1<TAB>y1' with a wnid from wnids.txt"
            )
        path = require_file(val_dir / "images" / fields[0], LAYOUT, "tiny_imagenet")
        samples.append((str(path), index[fields[1]]))
    if not samples:
        raise ValueError(f"tiny_imagenet: {ann} is empty; expected layout:\n{LAYOUT}")
    return samples


@DATASETS.register("tiny_imagenet")
class TinyImageNetDataModule(ClsDataModule):
    """Tiny ImageNet: 500 train and 50 val images per class; test = val (test has no labels)."""

    stats: Stats = IMAGENET_STATS

    loader_defaults = {"batch_size": 128, "num_workers": 4, "image_size": (64, 64)}

    def __init__(
        self,
        root: str | None = None,
        normalize: bool = True,
        augment: bool = True,
        crop_padding: int = 4,
        val_holdout: float = 0.02,
        **loader: Any,
    ) -> None:
        super().__init__(normalize, augment, **loader)
        self.val_holdout = val_holdout
        self.crop_padding = crop_padding
        self.root = require_dir(root, LAYOUT, "tiny_imagenet")
        require_dir(self.root / "train", LAYOUT, "tiny_imagenet")
        require_dir(self.root / "val" / "images", LAYOUT, "tiny_imagenet")
        require_file(self.root / "val" / "val_annotations.txt", LAYOUT, "tiny_imagenet")
        self.class_names = read_wnids(
            require_file(self.root / "wnids.txt", LAYOUT, "tiny_imagenet")
        )
        self.num_classes = len(self.class_names)

    def _train_samples(self) -> list[tuple[str, int]]:
        samples = []
        for label, wnid in enumerate(self.class_names or []):
            folder = require_dir(self.root / "train" / wnid / "images", LAYOUT, "tiny_imagenet")
            samples += [(path, label) for path in list_images(folder)]
        return samples

    def setup(self, stage: str | None = None) -> None:
        """List train images and parse the validation annotations once."""
        if self.train_set is not None:
            return
        index = {wnid: i for i, wnid in enumerate(self.class_names or [])}
        samples = self._train_samples()
        kept, held = holdout(len(samples), self.val_holdout, self.seed)
        self.train_set = ImageFileDataset([samples[i] for i in kept], self.crop_flip_transform(NATIVE, self.crop_padding))
        # test = the official validation set (its test labels are not public), val = a part of training
        self.test_set = ImageFileDataset(read_val_annotations(self.root / "val", index), self.plain_transform(NATIVE))
        self.val_set = (
            ImageFileDataset([samples[i] for i in held], self.plain_transform(NATIVE)) if held else self.test_set
        )
