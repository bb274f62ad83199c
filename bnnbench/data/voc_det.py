"""PASCAL VOC detection (20 classes): 2007 / 2012 / 07+12 trainval for training, 2007 test.

The standard VOCdevkit layout, read as py-faster-rcnn and BiDet read it (ZiweiWangTHU/BiDet@
fc54511, faster_rcnn/lib/datasets/pascal_voc.py): boxes are 1-based inclusive pixel corners,
turned into torchvision's continuous ones (x1 = xmin - 1, x2 = xmax); difficult boxes are
kept for training and flagged for the metric. Images are resized so that the short side is
`short_side` unless the long side would pass `max_side` (BiDet: 600 / 1000); training images
are flipped left-right with probability 0.5.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from bnnbench.data import DATASETS
from bnnbench.data.base import require_dir, require_file
from bnnbench.data.detection import DetectionDataModule, Target, hflip, make_target

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)
TRAIN_SETS = {"07": ("2007",), "12": ("2012",), "07+12": ("2007", "2012")}
LAYOUT = """\
root/                                   (VOCdevkit)
  VOC2007/Annotations/<id>.xml          <object><name>, <difficult>, <bndbox> xmin..ymax (1-based, inclusive)
  VOC2007/ImageSets/Main/trainval.txt   one <id> per line
  VOC2007/ImageSets/Main/test.txt
  VOC2007/JPEGImages/<id>.jpg
  VOC2012/...                           the same, trainval only (train_sets=12 or 07+12)"""


def read_annotation(path: Path) -> Target:
    """Boxes (continuous pixel corners), labels (1..20) and difficult flags of one VOC XML file."""
    boxes, labels, difficult = [], [], []
    for obj in ET.parse(path).getroot().iter("object"):
        name = (obj.findtext("name") or "").strip()
        if name not in VOC_CLASSES:
            raise ValueError(f"voc_det: unknown class {name!r} in {path}; VOC classes are {', '.join(VOC_CLASSES)}")
        box = obj.find("bndbox")
        if box is None:
            raise ValueError(f"voc_det: an object without <bndbox> in {path}")
        xmin, ymin, xmax, ymax = (float(box.findtext(k) or "nan") for k in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append([xmin - 1.0, ymin - 1.0, xmax, ymax])
        labels.append(VOC_CLASSES.index(name) + 1)
        difficult.append(int(obj.findtext("difficult") or 0) == 1)
    return make_target(boxes, labels, difficult)


def resize_scale(height: int, width: int, short_side: int, max_side: int) -> float:
    """The factor that brings the short side to `short_side`, the long side to at most `max_side`."""
    return min(short_side / min(height, width), max_side / max(height, width))


class VOCDetDataset(Dataset):
    """(image, target) of VOC ids given as (year folder, id) pairs."""

    def __init__(self, root: Path, items: Sequence[tuple[str, str]], train: bool, short_side: int, max_side: int) -> None:
        self.root, self.items, self.train = root, list(items), train
        self.short_side, self.max_side = short_side, max_side

    def __len__(self) -> int:
        return len(self.items)

    @property
    def pairs(self) -> list[tuple[Path, Path]]:
        """(image, annotation) files of every item, as the pre-training scan reads them."""
        return [(self.root / y / "JPEGImages" / f"{i}.jpg", self.root / y / "Annotations" / f"{i}.xml")
                for y, i in self.items]

    def load(self, image_path: Path, annotation_path: Path) -> tuple[torch.Tensor, Target]:
        """The decoded image (C, H, W) in [0, 1] and its target; a box outside the image raises."""
        with Image.open(image_path) as im:
            image = torch.from_numpy(np.asarray(im.convert("RGB")).copy()).permute(2, 0, 1).float() / 255
        target = read_annotation(annotation_path)
        h, w = image.shape[-2:]
        boxes = target["boxes"]
        bad = (boxes[:, 0] < 0) | (boxes[:, 1] < 0) | (boxes[:, 2] > w) | (boxes[:, 3] > h) | \
              (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
        if bad.any():
            x1, y1, x2, y2 = (float(v) for v in boxes[int(bad.nonzero()[0, 0])])
            raise ValueError(
                f"voc_det: a box of {annotation_path} is empty or outside its {w}x{h} image: "
                f"xmin={x1 + 1:g} ymin={y1 + 1:g} xmax={x2:g} ymax={y2:g} (VOC's 1-based pixels)"
            )
        return image, target

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Target]:
        image, target = self.load(*self.pairs[index])
        h, w = image.shape[-2:]
        scale = resize_scale(h, w, self.short_side, self.max_side)
        if scale != 1.0:
            size = (round(h * scale), round(w * scale))
            image = F.interpolate(image[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]
            target["boxes"] = target["boxes"] * torch.tensor([size[1] / w, size[0] / h] * 2)
        if self.train and torch.rand(()) < 0.5:
            image, target = hflip(image, target)
        return image, target


@DATASETS.register("voc_det")
class VOCDetDataModule(DetectionDataModule):
    """VOC detection; `train_sets`: 07, 12 or 07+12 trainval; test (and val): VOC2007 test."""

    class_names = VOC_CLASSES
    num_classes = len(VOC_CLASSES) + 1

    loader_defaults = {"batch_size": 16, "eval_batch_size": 1, "image_size": (600, 800)}

    def __init__(
        self,
        root: str | None = None,
        train_sets: str = "07+12",
        short_side: int = 600,
        max_side: int = 1000,
        **loader: Any,
    ) -> None:
        """`image_size` is the input cost is counted at (VOC images are about 500x375, resized to 600 x ~800)."""
        super().__init__(**loader)
        if train_sets not in TRAIN_SETS:
            raise ValueError(f"voc_det: train_sets must be one of {', '.join(TRAIN_SETS)}, got {train_sets!r}")
        if short_side < 1 or max_side < short_side:
            raise ValueError(f"voc_det: need 1 <= short_side <= max_side, got {short_side}, {max_side}")
        self.root, self.train_sets = root, train_sets
        self.short_side, self.max_side = short_side, max_side

    def _items(self, root: Path, year: str, split: str) -> list[tuple[str, str]]:
        """(year folder, id) of a split, every listed image and annotation checked to exist."""
        folder = f"VOC{year}"
        require_dir(root / folder, LAYOUT, "voc_det")
        listing = require_file(root / folder / "ImageSets" / "Main" / f"{split}.txt", LAYOUT, "voc_det")
        ids = [line.split()[0] for line in listing.read_text().splitlines() if line.strip()]
        for image_id in ids:
            require_file(root / folder / "Annotations" / f"{image_id}.xml", LAYOUT, "voc_det")
            require_file(root / folder / "JPEGImages" / f"{image_id}.jpg", LAYOUT, "voc_det")
        return [(folder, i) for i in ids]

    def setup(self, stage: str | None = None) -> None:
        """Index the splits; a missing folder, list, image or annotation stops here, named."""
        if self.train_set is not None:
            return
        root = require_dir(self.root, LAYOUT, "voc_det")
        train = [item for year in TRAIN_SETS[self.train_sets] for item in self._items(root, year, "trainval")]
        test = self._items(root, "2007", "test")
        self.train_set = VOCDetDataset(root, train, True, self.short_side, self.max_side)
        self.test_set = VOCDetDataset(root, test, False, self.short_side, self.max_side)
        self.val_set = self.test_set
