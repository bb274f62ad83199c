"""KITTI depth (Eigen split, BTS format): raw images + projected-LiDAR depth PNGs (uint16 / 256)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bnnbench.data import DATASETS
from bnnbench.data.base import require_dir
from bnnbench.data.depth_files import DepthFileDataModule, DepthReader

LAYOUT = """\
root/                                   (KITTI raw)
  2011_09_26/2011_09_26_drive_0002_sync/image_02/data/0000000069.png
  eigen_train_files_with_gt.txt         "<image path under root> <depth path under gt_root> 721.5377"
  eigen_test_files_with_gt.txt          lines with depth "None" are skipped
gt_root/ (default: root)                (data_depth_annotated, train/ and val/ merged)
  2011_09_26_drive_0002_sync/proj_depth/groundtruth/image_02/0000000069.png   uint16, depth * 256
split files: absolute paths or relative to root"""

EVAL_CROPS = ("garg", "eigen_kitti")


@DATASETS.register("kitti")
class KITTIDepthDataModule(DepthFileDataModule):
    """KITTI Eigen split; KB crop to 352x1216 everywhere, eval with the Garg (or Eigen) crop."""

    name = "kitti"
    layout = LAYOUT
    depth_scale = 256.0
    min_depth = 1e-3
    max_depth = 80.0
    eval_crop = "garg"
    default_train_file = "eigen_train_files_with_gt.txt"
    default_test_file = "eigen_test_files_with_gt.txt"

    loader_defaults = {"batch_size": 64, "image_size": (352, 704)}

    def __init__(
        self,
        root: str | None = None,
        train_file: str | None = None,
        val_file: str | None = None,
        test_file: str | None = None,
        rotate_degrees: float = 1.0,
        color_jitter: float = 0.1,
        gt_root: str | None = None,
        eval_crop: str = "garg",
        **loader: Any,
    ) -> None:
        """`gt_root` holds the depth PNGs (default root); `eval_crop` is "garg" or "eigen_kitti"."""
        super().__init__(root, train_file, val_file, test_file, rotate_degrees, color_jitter, **loader)
        if eval_crop not in EVAL_CROPS:
            raise ValueError(f"kitti: eval_crop must be one of {EVAL_CROPS}, got {eval_crop!r}")
        self.eval_crop = eval_crop
        self.gt_root = gt_root

    def roots(self, split: str) -> tuple[Path, Path]:
        """Images under root, depth under gt_root (default root)."""
        root = require_dir(self.root, LAYOUT, self.name)
        return root, require_dir(self.gt_root or self.root, LAYOUT, self.name)

    def reader(self, train: bool) -> DepthReader:
        """KB crop (bottom 352 rows, centred 1216 columns) for training and evaluation alike."""
        return DepthReader(self.name, self.depth_scale, kb_crop=True)
