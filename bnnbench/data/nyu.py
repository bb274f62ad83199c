"""NYU Depth v2 in the BTS layout: 480x640 RGB + uint16 depth PNGs in millimetres."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bnnbench.data import DATASETS
from bnnbench.data.base import require_dir
from bnnbench.data.depth_files import DepthFileDataModule, DepthReader

LAYOUT = """\
root/                                   (BTS: dataset/nyu_depth_v2/sync)
  <scene>/rgb_00045.jpg                 480x640 RGB
  <scene>/sync_depth_00045.png          uint16, millimetres, 0 = no depth
  nyudepthv2_train_files_with_gt.txt    "/kitchen_0028b/rgb_00045.jpg /kitchen_0028b/sync_depth_00045.png 518.8579"
  nyudepthv2_test_files_with_gt.txt     "kitchen/rgb_00045.jpg kitchen/sync_depth_00045.png 518.8579"
eval_root/ (default: root)              (BTS: dataset/nyu_depth_v2/official_splits/test)
  <category>/rgb_*.jpg, <category>/sync_depth_*.png
split files: absolute paths or relative to root"""

# BTS trains on the area inside NYU's white frame: PIL box (43, 45, 608, 472)
_BORDER_BOX = (45, 43, 427, 565)  # top, left, height, width


@DATASETS.register("nyu")
class NYUDepthDataModule(DepthFileDataModule):
    """NYU v2 depth; eval on full 480x640 targets with the Eigen crop, depth in (1e-3, 10] m."""

    name = "nyu"
    layout = LAYOUT
    depth_scale = 1000.0
    min_depth = 1e-3
    max_depth = 10.0
    eval_crop = "eigen_nyu"
    default_train_file = "nyudepthv2_train_files_with_gt.txt"
    default_test_file = "nyudepthv2_test_files_with_gt.txt"

    loader_defaults = {"batch_size": 32, "image_size": (416, 544)}

    def __init__(
        self,
        root: str | None = None,
        train_file: str | None = None,
        val_file: str | None = None,
        test_file: str | None = None,
        rotate_degrees: float = 2.5,
        color_jitter: float = 0.1,
        eval_root: str | None = None,
        train_border_crop: bool = True,
        **loader: Any,
    ) -> None:
        """`eval_root` holds the val/test files (default root); split files default to BTS names."""
        super().__init__(root, train_file, val_file, test_file, rotate_degrees, color_jitter, **loader)
        self.eval_root = eval_root
        self.train_border_crop = train_border_crop

    def roots(self, split: str) -> tuple[Path, Path]:
        """Train files under root; val/test files under eval_root (default root)."""
        root = self.root if split == "train" or not self.eval_root else self.eval_root
        path = require_dir(root, LAYOUT, self.name)
        return path, path

    def reader(self, train: bool) -> DepthReader:
        """Training drops the white frame; evaluation keeps 480x640 for the Eigen crop."""
        return DepthReader(
            self.name,
            self.depth_scale,
            box=_BORDER_BOX if train and self.train_border_crop else None,
        )
