"""CIFAR-10/100 readers on small fixture batches written in the real pickle format."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from bnnbench import data
from bnnbench.data.cls_base import CIFAR10_STATS


def build(name: str, **kwargs):
    """The reader with the protocol's own splits (no validation held out of training)."""
    return data.build(name, **kwargs) if name == "flowers102" else data.build(name, **{"val_holdout": 0.0, **kwargs})


def _rows(n: int, seed: int) -> np.ndarray:
    """n CIFAR rows (3072 bytes: R plane, G plane, B plane, each row-major) with marked pixels."""
    rows = np.random.default_rng(seed).integers(0, 256, (n, 3072), dtype=np.uint8)

    def put(y: int, x: int, rgb: tuple[int, int, int]) -> None:
        for c in range(3):
            rows[:, c * 1024 + y * 32 + x] = rgb[c]

    put(0, 0, (255, 0, 0))  # top-left red
    put(0, 31, (0, 255, 0))  # top-right green
    put(31, 0, (0, 0, 255))  # bottom-left blue
    return rows


def _dump(path: Path, obj: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def _write_cifar10(root: Path, per_batch: int = 4, n_test: int = 6) -> dict[str, np.ndarray]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    labels = {}
    for i in range(1, 6):
        y = [(i + k) % 10 for k in range(per_batch)]
        labels[f"data_batch_{i}"] = np.array(y)
        _dump(
            folder / f"data_batch_{i}",
            {b"batch_label": b"x", b"data": _rows(per_batch, i), b"labels": y},
        )
    y = [9 - k for k in range(n_test)]
    labels["test_batch"] = np.array(y)
    _dump(folder / "test_batch", {b"data": _rows(n_test, 0), b"labels": y, b"filenames": []})
    names = [n.encode() for n in "plane car bird cat deer dog frog horse ship truck".split()]
    _dump(folder / "batches.meta", {b"label_names": names, b"num_vis": 3072})
    return labels


def test_cifar10_counts_labels_and_pixel_layout(tmp_path: Path) -> None:
    labels = _write_cifar10(tmp_path)
    dm = build("cifar10", root=str(tmp_path), normalize=False, batch_size=4)
    dm.setup()
    assert dm.num_classes == 10 and dm.class_names[1] == "car"
    assert len(dm.train_set) == 20 and len(dm.val_set) == 6 and dm.test_set is dm.val_set
    expected = np.concatenate([labels[f"data_batch_{i}"] for i in range(1, 6)])
    assert dm.train_set.labels.tolist() == expected.tolist()
    image, label = dm.val_set[2]
    assert label.item() == 7 and image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert image[:, 0, 0].tolist() == [1.0, 0.0, 0.0]
    assert image[:, 0, 31].tolist() == [0.0, 1.0, 0.0]
    assert image[:, 31, 0].tolist() == [0.0, 0.0, 1.0]
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 3, 32, 32) and y.dtype == torch.int64


def test_cifar10_normalization_augmentation_and_folder_root(tmp_path: Path) -> None:
    _write_cifar10(tmp_path)
    # root may also be the batches folder itself
    dm = build("cifar10", root=str(tmp_path / "cifar-10-batches-py"), augment=False)
    dm.setup()
    mean, std = CIFAR10_STATS
    red = dm.val_set[0][0][:, 0, 0]
    expected = torch.tensor([(1 - mean[0]) / std[0], -mean[1] / std[1], -mean[2] / std[2]])
    assert torch.allclose(red, expected, atol=1e-5)
    assert torch.allclose(dm.train_set[0][0][:, 0, 0], expected, atol=1e-5)  # no crop/flip

    augmented = build("cifar10", root=str(tmp_path), normalize=False)
    augmented.setup()
    torch.manual_seed(0)
    views = torch.stack([augmented.train_set[0][0] for _ in range(8)])
    assert views.shape == (8, 3, 32, 32)
    assert not all(torch.equal(views[0], v) for v in views[1:])  # random crop + flip
    assert (views == 0).flatten(1).all(0).sum() < 3 * 32 * 32  # not all padding


def test_cifar100_fine_labels(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    fine, coarse = [0, 57, 99, 3], [0, 1, 19, 2]
    _dump(folder / "train", {b"data": _rows(4, 1), b"fine_labels": fine, b"coarse_labels": coarse})
    _dump(
        folder / "test", {b"data": _rows(2, 2), b"fine_labels": [99, 1], b"coarse_labels": [0, 1]}
    )
    _dump(folder / "meta", {b"fine_label_names": [f"c{i}".encode() for i in range(100)]})
    dm = build("cifar100", root=str(tmp_path), normalize=False)
    dm.setup()
    assert dm.num_classes == 100 and len(dm.class_names) == 100
    assert dm.train_set.labels.tolist() == fine
    assert [dm.val_set[i][1].item() for i in range(2)] == [99, 1]
    assert dm.val_set[0][0][:, 0, 0].tolist() == [1.0, 0.0, 0.0]


def test_broken_folders_name_path_and_layout(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="data.root"):
        build("cifar10")
    with pytest.raises(FileNotFoundError, match=r"(?s)nowhere.*cifar-10-batches-py"):
        build("cifar10", root=str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=r"(?s)cifar-100-python.*fine_labels"):
        build("cifar100", root=str(tmp_path))

    _write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(
        FileNotFoundError, match=r"(?s)data_batch_3.*data_batch_1 \.\.\. data_batch_5"
    ):
        build("cifar10", root=str(tmp_path))

    _dump(
        tmp_path / "cifar-10-batches-py" / "data_batch_3",
        {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]},
    )
    dm = build("cifar10", root=str(tmp_path))
    with pytest.raises(ValueError, match=r"data_batch_3.*\(N, 3072\)"):
        dm.setup()
