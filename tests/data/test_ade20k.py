"""ADE20K loader on a tiny fixture in the ADEChallengeData2016 layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bnnbench import data
from bnnbench.data.ade20k import ADE20KDataModule


def build(name: str, **kwargs):
    """The reader with the protocol's own splits (no validation held out of training)."""
    return data.build(name, **kwargs) if name == "flowers102" else data.build(name, **{"val_holdout": 0.0, **kwargs})


def _write_ade(root: Path) -> None:
    rng = np.random.default_rng(0)
    for folder, names in (
        ("training", ["ADE_train_00000001", "ADE_train_00000002"]),
        ("validation", ["ADE_val_00000001"]),
    ):
        (root / "images" / folder).mkdir(parents=True)
        (root / "annotations" / folder).mkdir(parents=True)
        for name in names:
            Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(
                root / "images" / folder / f"{name}.jpg"
            )
            label = np.zeros((30, 40), dtype=np.uint8)  # 0 = "other", ignored
            label[:, 10:20], label[:, 20:30], label[:, 30:] = 1, 2, 150
            Image.fromarray(label).save(root / "annotations" / folder / f"{name}.png")


@pytest.fixture()
def ade_root(tmp_path: Path) -> Path:
    _write_ade(tmp_path / "ADEChallengeData2016")
    return tmp_path / "ADEChallengeData2016"


def test_reduce_zero_label_at_full_size(ade_root: Path) -> None:
    dm = build("ade20k", root=str(ade_root), eval_short_side=0)
    assert isinstance(dm, ADE20KDataModule) and dm.num_classes == 150 and dm.eval_batch_size == 1
    dm.setup("validate")
    x, m = dm.val_set[0]
    assert x.shape == (3, 30, 40) and x.dtype == torch.float32
    assert m.dtype == torch.int64
    assert (
        (m[:, :10] == 255).all()
        and (m[:, 10:20] == 0).all()
        and (m[:, 20:30] == 1).all()
        and (m[:, 30:] == 149).all()
    )
    assert dm.test_dataloader().dataset is dm.val_set


def test_train_crops_and_resized_eval(ade_root: Path) -> None:
    torch.manual_seed(0)
    dm = build("ade20k", root=str(ade_root), image_size=[48, 48], batch_size=2)
    dm.setup("fit")
    assert len(dm.train_set) == 2 and len(dm.val_set) == 1
    x, m = next(iter(dm.train_dataloader()))
    assert x.shape == (2, 3, 48, 48) and m.shape == (2, 48, 48) and m.dtype == torch.int64
    assert set(m.unique().tolist()) <= {0, 1, 149, 255}
    xv, mv = dm.val_set[0]  # short side resized to min(image_size) = 48, ratio kept
    assert xv.shape == (3, 48, 64) and mv.shape == (48, 64)
    assert set(mv.unique().tolist()) <= {0, 1, 149, 255}


def test_missing_root_and_files_name_path_and_layout(ade_root: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="annotations/"):
        build("ade20k", root=str(tmp_path / "nowhere")).setup("fit")
    (ade_root / "annotations" / "training" / "ADE_train_00000002.png").unlink()
    with pytest.raises(FileNotFoundError, match="ADE_train_00000002.png") as err:
        build("ade20k", root=str(ade_root)).setup("fit")
    assert "images/" in str(err.value)
    with pytest.raises(FileNotFoundError, match="data.root"):
        build("ade20k").setup("fit")


def test_validation_is_held_out_of_training_and_test_is_the_official_split(ade_root: Path) -> None:
    # model selection never sees the reported split: val is a part of training, test the official val
    dm = data.build("ade20k", root=str(ade_root), val_holdout=0.5, seed=3)
    dm.setup("fit")
    train = {p[0].name for p in dm.train_set.pairs}
    val = {p[0].name for p in dm.val_set.pairs}
    test = {p[0].name for p in dm.test_set.pairs}
    assert len(train) == len(val) == 1 and not train & val
    assert all(n.startswith("ADE_train") for n in train | val) and all(n.startswith("ADE_val") for n in test)
    again = data.build("ade20k", root=str(ade_root), val_holdout=0.5, seed=3)
    again.setup("fit")
    assert {p[0].name for p in again.val_set.pairs} == val  # fixed by the data's seed
