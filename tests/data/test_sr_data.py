"""SR data: gen_sr's pairs and held-out tiles; df2k and sr_benchmark read tiny folders in their
layouts; a missing folder or file and an LR/HR size mismatch stop setup naming the files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bnnbench import data
from bnnbench.data.gen_sr import TRAIN_PART, high_res_photos, low_res_photos
from bnnbench.data.sr_pairs import bicubic_down


def write_png(path: Path, image: torch.Tensor) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(path)


def write_pairs(folder: Path, names: list[str], template: str, size: int = 24, hr_extra: int = 0) -> None:
    """HR crops of the bundled photo and their x2 LR (MATLAB-style bicubic), in `folder`'s layout."""
    photo = high_res_photos()[0]
    for i, name in enumerate(names):
        hr = photo[:, 40 * i : 40 * i + size + hr_extra, 60 : 60 + size + hr_extra]
        write_png(folder / "HR" / f"{name}.png", hr)
        write_png(folder / "LR_bicubic" / "X2" / f"{template.format(name=name)}.png", bicubic_down(hr, 2))


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    df2k, bench = tmp_path / "DF2K", tmp_path / "benchmark"
    write_pairs(df2k, ["0001", "0002", "000003"], "{name}x2", size=32)
    write_pairs(bench / "Set5", ["baby", "bird"], "{name}x2", hr_extra=1)  # odd HR: cropped to LR x 2
    write_pairs(bench / "Manga109", ["AisazuNihaIrarenai"], "{name}_LRBI_x2")
    return df2k, bench


def test_gen_sr_pairs_are_crops_of_one_downscaled_photo_and_tests_are_held_out():
    dm = data.build("gen_sr", image_size=[16, 16], train_size=6, val_size=2, test_size=3, test_tile=16)
    dm.setup("fit")
    lr, hr = dm.train_set[0]
    assert lr.shape == (3, 8, 8) and hr.shape == (3, 16, 16)
    h = low_res_photos(2)[0].shape[-2]
    lr_tiles = [dm.cells[i] for i in range(5)]
    assert all(y >= int(TRAIN_PART * h) for _, y, _ in lr_tiles)  # below every training crop
    assert len(set(lr_tiles)) == 5  # val and test disjoint
    for (index, y, x), (t_lr, t_hr) in zip(dm.cells, dm.test_set):
        assert torch.equal(t_lr, low_res_photos(2)[index][:, y : y + 8, x : x + 8])
        assert torch.equal(t_hr, high_res_photos()[index][:, 2 * y : 2 * y + 16, 2 * x : 2 * x + 16])
    again = data.build("gen_sr", seed=5, image_size=[16, 16], train_size=6, val_size=2, test_size=3, test_tile=16)
    assert again.cells[:5] == dm.cells[:5]  # the held-out tiles do not follow the seed
    with pytest.raises(ValueError, match="image_size must be square"):
        data.build("gen_sr", image_size=[16, 15])


def test_df2k_trains_on_paired_crops_and_tests_on_a_benchmark(folders):
    df2k, bench = folders
    dm = data.build("df2k", root=str(df2k), benchmark_root=str(bench), patch_size=16, batch_size=2, num_workers=0)
    dm.setup("fit")
    assert len(dm.train_set) == 3 * 100 and len(dm.test_set) == 2  # each image 100 times an epoch
    lr, hr = next(iter(dm.train_dataloader()))
    assert lr.shape == (2, 3, 8, 8) and hr.shape == (2, 3, 16, 16)
    lr, hr = next(iter(dm.test_dataloader()))
    assert lr.shape == (1, 3, 12, 12) and hr.shape == (1, 3, 24, 24)  # the odd HR row/column cropped
    # a training crop is the same place in LR and HR: LR is HR's downscale there (interior)
    full_lr, full_hr = dm.train_set.load(*dm.train_set.pairs[0])
    assert torch.allclose(bicubic_down(full_hr, 2)[:, 2:-2, 2:-2], full_lr[:, 2:-2, 2:-2], atol=1.5 / 255)


def test_sr_benchmark_reads_each_sets_lr_names(folders):
    _, bench = folders
    dm = data.build("sr_benchmark", root=str(bench), test_set="Manga109")
    dm.setup("fit")
    assert [p[0].name for p in dm.test_set.pairs] == ["AisazuNihaIrarenai_LRBI_x2.png"]
    with pytest.raises(ValueError, match="sr_benchmark is a test set: train with data=df2k"):
        dm.train_dataloader()
    with pytest.raises(ValueError, match="test_set must be one of Set5, Set14, B100, Urban100, Manga109"):
        data.build("sr_benchmark", root=str(bench), test_set="Set4")


def test_a_missing_folder_or_lr_file_is_named(folders, tmp_path):
    df2k, bench = folders
    with pytest.raises(FileNotFoundError, match="B100 does not exist"):
        data.build("sr_benchmark", root=str(bench), test_set="B100").setup("fit")
    (df2k / "LR_bicubic" / "X2" / "0002x2.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing .*0002x2\.png"):
        data.build("df2k", root=str(df2k), benchmark_root=str(bench)).setup("fit")


def test_an_lr_hr_size_mismatch_names_both_files(folders):
    df2k, bench = folders
    write_png(df2k / "HR" / "0002.png", high_res_photos()[0][:, :30, :32])
    with pytest.raises(ValueError, match=r"LR/HR size mismatch at x2: .*0002x2\.png is 16x16 but .*0002\.png is 30x32"):
        data.build("df2k", root=str(df2k), benchmark_root=str(bench)).setup("fit")


def test_a_patch_larger_than_an_image_and_a_missing_benchmark_root_are_named_before_training(folders):
    df2k, bench = folders
    # the LR images are 16x16 or smaller: an HR patch of 40 needs a 20x20 LR crop
    with pytest.raises(ValueError, match=r"df2k: .*x2\.png is \d+x\d+, smaller than the LR training crop 20x20 "
                                         r"\(patch_size=40 at scale 2\)"):
        data.build("df2k", root=str(df2k), benchmark_root=str(bench), patch_size=40).setup("fit")
    with pytest.raises(FileNotFoundError, match="df2k: set data.benchmark_root to its folder"):
        data.build("df2k", root=str(df2k), patch_size=16).setup("fit")
