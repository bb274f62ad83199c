"""ImageNet (or any subset of it) from train/ and val/ class folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bnnbench.data import DATASETS
from bnnbench.data.base import holdout, require_dir
from bnnbench.data.cls_base import (
    IMAGENET_STATS,
    ClsDataModule,
    ImageFileDataset,
    Stats,
    list_class_dirs,
    list_images,
)

LAYOUT = """root/
  train/
    n01440764/  *.JPEG          one folder per class (wnid); classes = the train folders
    n01443537/  *.JPEG
    ...
  val/
    n01440764/  *.JPEG          same class folders (torchvision/valprep.sh layout,
    ...                          not the flat val/*.JPEG of the raw archive)"""


def folder_samples(split_dir: Path, classes: list[str], dataset: str) -> list[tuple[str, int]]:
    """(path, label) for every image in the class folders of `split_dir`."""
    found = list_class_dirs(split_dir)
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise ValueError(
            f"{dataset}: {split_dir} has class folders absent from train/: {unknown[:5]}; "
            f"expected layout:\n{LAYOUT}"
        )
    samples = [
        (path, label)
        for label, wnid in enumerate(classes)
        if wnid in found
        for path in list_images(split_dir / wnid)
    ]
    if not samples:
        raise FileNotFoundError(
            f"{dataset}: no images in the class folders of {split_dir}; expected layout:\n{LAYOUT}"
        )
    return samples


@DATASETS.register("imagenet")
class ImageNetDataModule(ClsDataModule):
    """ImageNet class folders; num_classes = number of train/ folders (subsets welcome)."""

    stats: Stats = IMAGENET_STATS
    num_classes = 1000  # ILSVRC-2012, what mode=cost counts without the folder; an instance counts train/

    loader_defaults = {"batch_size": 256, "num_workers": 8, "image_size": (224, 224)}

    def __init__(
        self,
        root: str | None = None,
        normalize: bool = True,
        augment: bool = True,
        eval_resize_ratio: float = 256 / 224,
        val_holdout: float = 0.02,
        **loader: Any,
    ) -> None:
        super().__init__(normalize, augment, **loader)
        self.val_holdout = val_holdout
        self.eval_resize_ratio = eval_resize_ratio
        path = require_dir(root, LAYOUT, "imagenet")
        self.train_dir = require_dir(path / "train", LAYOUT, "imagenet")
        self.val_dir = require_dir(path / "val", LAYOUT, "imagenet")
        self.class_names = list_class_dirs(self.train_dir)
        if not self.class_names:
            raise FileNotFoundError(
                f"imagenet: {self.train_dir} has no class folders; expected layout:\n{LAYOUT}"
            )
        if not list_class_dirs(self.val_dir):
            raise ValueError(
                f"imagenet: {self.val_dir} has no class folders (a flat val/ must first be "
                f"sorted into class folders); expected layout:\n{LAYOUT}"
            )
        self.num_classes = len(self.class_names)

    def setup(self, stage: str | None = None) -> None:
        """List the image files once (train listing takes seconds on full ImageNet)."""
        if self.train_set is not None:
            return
        classes = self.class_names or []
        samples = folder_samples(self.train_dir, classes, "imagenet")
        kept, held = holdout(len(samples), self.val_holdout, self.seed)
        self.train_set = ImageFileDataset([samples[i] for i in kept], self.resized_crop_transform(self.eval_resize_ratio))
        # test = the official validation set (the protocol's), val = a part of training
        self.test_set = ImageFileDataset(
            folder_samples(self.val_dir, classes, "imagenet"),
            self.center_crop_transform(self.eval_resize_ratio),
        )
        self.val_set = (
            ImageFileDataset([samples[i] for i in held], self.center_crop_transform(self.eval_resize_ratio))
            if held else self.test_set
        )
