"""KITTI depth loader on a tiny fixture: raw images + annotated depth, Eigen split in BTS format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bnnbench.data import build
from bnnbench.data.kitti import KITTIDepthDataModule

DRIVE = "2011_09_26_drive_0002_sync"


def _write_frame(raw: Path, gt: Path, frame: str) -> str:
    image = raw / "2011_09_26" / DRIVE / "image_02" / "data" / f"{frame}.png"
    depth = gt / DRIVE / "proj_depth" / "groundtruth" / "image_02" / f"{frame}.png"
    image.parent.mkdir(parents=True, exist_ok=True)
    depth.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((375, 1242, 3), 90, dtype=np.uint8)).save(image)
    d = np.zeros((375, 1242), dtype=np.uint16)  # depth * 256, 0 = no LiDAR point
    d[23:, 13:1229] = 2560  # exactly the KB crop region (top 375-352, left (1242-1216)//2)
    d[200, 600] = 5120
    Image.fromarray(d).save(depth)
    return f"2011_09_26/{DRIVE}/image_02/data/{frame}.png {DRIVE}/proj_depth/groundtruth/image_02/{frame}.png 721.5377"


@pytest.fixture()
def kitti_dirs(tmp_path: Path) -> tuple[Path, Path]:
    raw, gt = tmp_path / "raw", tmp_path / "data_depth_annotated"
    train = [_write_frame(raw, gt, f) for f in ("0000000005", "0000000006")]
    test = [_write_frame(raw, gt, "0000000069")]
    no_gt = f"2011_09_26/{DRIVE}/image_02/data/0000000070.png None 721.5377"
    (raw / "eigen_train_files_with_gt.txt").write_text("\n".join(train) + "\n")
    (raw / "eigen_test_files_with_gt.txt").write_text("\n".join([test[0], no_gt]) + "\n")
    return raw, gt


def test_kb_crop_and_depth_scale(kitti_dirs: tuple[Path, Path]) -> None:
    raw, gt = kitti_dirs
    dm = build("kitti", root=str(raw), gt_root=str(gt))
    assert isinstance(dm, KITTIDepthDataModule)
    assert (dm.eval_crop, dm.min_depth, dm.max_depth) == ("garg", 1e-3, 80.0)
    dm.setup("test")
    assert len(dm.test_set) == 1  # the "None" line is skipped
    x, d = dm.test_set[0]
    assert x.shape == (3, 352, 1216) and d.shape == (1, 352, 1216)
    assert (d[0].unique() == torch.tensor([10.0, 20.0])).all()  # the crop holds only the region
    assert d[0, 200 - 23, 600 - 13] == 20.0


def test_train_crops(kitti_dirs: tuple[Path, Path]) -> None:
    torch.manual_seed(0)
    raw, gt = kitti_dirs
    dm = build("kitti", root=str(raw), gt_root=str(gt), batch_size=2)
    dm.setup("fit")
    assert len(dm.train_set) == 2 and len(dm.val_set) == 1
    x, d = next(iter(dm.train_dataloader()))
    assert x.shape == (2, 3, 352, 704) and d.shape == (2, 1, 352, 704)
    assert set(d.unique().tolist()) <= {0.0, 10.0, 20.0}


def test_eval_crop_option(kitti_dirs: tuple[Path, Path]) -> None:
    raw, _ = kitti_dirs
    assert build("kitti", root=str(raw), eval_crop="eigen_kitti").eval_crop == "eigen_kitti"
    with pytest.raises(ValueError, match="garg"):
        build("kitti", root=str(raw), eval_crop="eigen_nyu")


def test_missing_files_name_path_and_layout(kitti_dirs: tuple[Path, Path], tmp_path: Path) -> None:
    raw, gt = kitti_dirs
    with pytest.raises(FileNotFoundError, match="proj_depth"):
        build("kitti", root=str(raw), gt_root=str(tmp_path / "no_gt")).setup("fit")
    with pytest.raises(FileNotFoundError, match="eigen_train_files_with_gt.txt"):
        build("kitti", root=str(raw), gt_root=str(gt), train_file="missing.txt").setup("fit")
    (raw / "2011_09_26" / DRIVE / "image_02" / "data" / "0000000069.png").unlink()
    with pytest.raises(FileNotFoundError, match="0000000069.png") as err:
        build("kitti", root=str(raw), gt_root=str(gt)).setup("test")
    assert str(raw) in str(err.value)
