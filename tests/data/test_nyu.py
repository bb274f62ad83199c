"""NYU Depth v2 loader on a tiny fixture in the BTS layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bnnbench.data import build
from bnnbench.data.nyu import NYUDepthDataModule


def _write_pair(folder: Path, index: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((480, 640, 3), 128, dtype=np.uint8)).save(folder / f"rgb_{index}.jpg")
    depth = np.zeros((480, 640), dtype=np.uint16)  # millimetres, 0 = no depth
    depth[40:440, 40:600] = 1234
    Image.fromarray(depth).save(folder / f"sync_depth_{index}.png")


@pytest.fixture()
def nyu_dirs(tmp_path: Path) -> tuple[Path, Path]:
    sync, test = tmp_path / "sync", tmp_path / "official_splits" / "test"
    _write_pair(sync / "kitchen_0028b", "00045")
    _write_pair(sync / "bedroom_0004", "00001")
    _write_pair(test / "kitchen", "00045")
    (sync / "nyudepthv2_train_files_with_gt.txt").write_text(
        "/kitchen_0028b/rgb_00045.jpg /kitchen_0028b/sync_depth_00045.png 518.8579\n"
        "/bedroom_0004/rgb_00001.jpg /bedroom_0004/sync_depth_00001.png 518.8579\n"
    )
    (sync / "nyudepthv2_test_files_with_gt.txt").write_text(
        "kitchen/rgb_00045.jpg kitchen/sync_depth_00045.png 518.8579\n"
    )
    return sync, test


def test_eval_full_size_in_metres(nyu_dirs: tuple[Path, Path]) -> None:
    sync, test = nyu_dirs
    dm = build("nyu", root=str(sync), eval_root=str(test))
    assert isinstance(dm, NYUDepthDataModule)
    assert (dm.task, dm.eval_crop, dm.min_depth, dm.max_depth) == ("depth", "eigen_nyu", 1e-3, 10.0)
    dm.setup("test")
    assert len(dm.test_set) == 1 and dm.test_set.pairs[0][0].parent == test / "kitchen"
    x, d = next(iter(dm.test_dataloader()))
    assert x.shape == (1, 3, 480, 640) and x.dtype == torch.float32
    assert d.shape == (1, 1, 480, 640) and d.dtype == torch.float32
    assert d[0, 0, 100, 100].item() == pytest.approx(1.234) and d[0, 0, 0, 0] == 0


def test_train_crops(nyu_dirs: tuple[Path, Path]) -> None:
    torch.manual_seed(0)
    sync, test = nyu_dirs
    dm = build("nyu", root=str(sync), eval_root=str(test), batch_size=2)
    dm.setup("fit")
    assert len(dm.train_set) == 2 and len(dm.val_set) == 1
    x, d = next(iter(dm.train_dataloader()))
    assert x.shape == (2, 3, 416, 544) and d.shape == (2, 1, 416, 544)
    values = d.unique()  # rotation/crop never blend depths
    assert len(values) == 2 and values[0] == 0 and values[1].item() == pytest.approx(1.234)


def test_split_files_relative_to_root_or_absolute(
    nyu_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    sync, test = nyu_dirs
    custom = tmp_path / "my_test.txt"
    custom.write_text("kitchen/rgb_00045.jpg kitchen/sync_depth_00045.png 518.8579\n")
    dm = build("nyu", root=str(sync), eval_root=str(test), test_file=str(custom))
    dm.setup("test")
    assert len(dm.test_set) == 1


def test_missing_files_name_path_and_layout(nyu_dirs: tuple[Path, Path], tmp_path: Path) -> None:
    sync, test = nyu_dirs
    with pytest.raises(FileNotFoundError, match="sync_depth") as err:
        build("nyu", root=str(tmp_path / "nowhere")).setup("fit")
    assert str(tmp_path / "nowhere") in str(err.value)
    with pytest.raises(FileNotFoundError, match="nyudepthv2_test_files_with_gt.txt"):
        build("nyu", root=str(test)).setup("test")
    (sync / "bedroom_0004" / "sync_depth_00001.png").unlink()
    with pytest.raises(FileNotFoundError, match="bedroom_0004/sync_depth_00001.png"):
        build("nyu", root=str(sync), eval_root=str(test)).setup("fit")
