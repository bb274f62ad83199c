"""The data-module contract every task relies on, and the shared dataloader plumbing."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from bnnbench.data.corruption import CorruptedSet, Corruption, Stats
from bnnbench.data.info import DataInfo
from bnnbench.data.sampler import EpochSeededRandomSampler

LOADER_DEFAULTS: dict[str, Any] = {"batch_size": 8, "eval_batch_size": None, "num_workers": 0, "seed": 0,
                                   "image_size": (64, 64)}


class BaseDataModule(L.LightningDataModule):
    """Holds train/val/test datasets and exposes what tasks and models need to know.

    Subclasses set `task` ("seg", "depth" or "cls") and fill `self.train_set`, `self.val_set`,
    `self.test_set` in `setup`. Batches are `(image, target)`:
    seg: float (B,3,H,W), long (B,H,W) with `ignore_index`; depth: float (B,3,H,W),
    float (B,1,H,W) in metres with 0 = no ground truth; cls: float (B,3,H,W), long (B,);
    det: a list of B float (3,H,W) images in [0, 1] and a list of B dicts of boxes (n,4),
    labels (n,) and difficult (n,) (`bnnbench.data.detection`).
    """

    task: str = ""
    num_classes: int | None = None
    in_channels: int = 3
    # what a kind of data declares besides (None where it does not apply): segmentation its
    # ignore_index, depth its capped range and the named crop of its protocol ("eigen_nyu", ...)
    ignore_index: int | None = None
    min_depth: float | None = None
    max_depth: float | None = None
    eval_crop: str | None = None
    # how samples become a batch (None: stacked); detection keeps lists of images and targets
    collate_fn: ClassVar[Callable[[list[Any]], Any] | None] = None

    # the loader options every data module takes, passed down as **loader so that no subclass
    # re-types them; a subclass sets its own defaults in `loader_defaults` (merged along the MRO)
    loader_defaults: ClassVar[dict[str, Any]] = {}

    @classmethod
    def loader_options(cls) -> dict[str, Any]:
        """The loader options of this data set with their defaults: LOADER_DEFAULTS, then each
        class's `loader_defaults` from the base down."""
        options = dict(LOADER_DEFAULTS)
        for klass in reversed(cls.__mro__):
            options.update(klass.__dict__.get("loader_defaults", {}))
        return options

    @classmethod
    def option_defaults(cls) -> dict[str, Any]:
        """Every option of `cls(...)` with its default: the loader options, and the parameters of
        its constructor (the nearest class's; they win over a loader default of the same name)."""
        init = next((k.__dict__["__init__"] for k in cls.__mro__ if "__init__" in k.__dict__), None)
        own: dict[str, Any] = {}
        if init is not None and init is not BaseDataModule.__dict__["__init__"]:
            own = {p.name: p.default for p in inspect.signature(init).parameters.values()
                   if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        return {**cls.loader_options(), **own}

    def __init__(self, **loader: Any) -> None:
        """`loader`: batch_size, eval_batch_size (None: batch_size), num_workers, seed (the data's
        own: generated samples and random splits), image_size (H, W) the model sees in training."""
        unknown = sorted(set(loader) - set(LOADER_DEFAULTS))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unknown options {unknown}")
        options = {**self.loader_options(), **loader}
        super().__init__()
        self.batch_size = options["batch_size"]
        self.eval_batch_size = options["eval_batch_size"] or self.batch_size
        self.num_workers = options["num_workers"]
        self.seed = options["seed"]  # the data's own seed: generated samples and random splits
        self.shuffle_seed = self.seed  # the training order's seed: the job sets the run's `seed`
        self.image_size = tuple(options["image_size"])  # (H, W) the model sees in training; used for cost
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None
        # set by the run for one cell of a robustness grid: the test split's input images corrupted
        self.corruption: Corruption | None = None

    def pixel_stats(self) -> Stats:
        """(mean, std) such that a test input image is (pixels / 255 - mean) / std, per channel
        or one for all; (0, 1): images in [0, 1] (detection, super-resolution)."""
        return (0.0,), (1.0,)

    @property
    def info(self) -> DataInfo:
        """The one description of this data set that tasks and models are built from."""
        return self.describe(self, self.image_size)

    @staticmethod
    def describe(source: Any, image_size: Sequence[int], num_classes: int | None = None) -> DataInfo:
        """A DataInfo from the attributes of `source` (a data module, or its class when its
        files are absent, as in mode=cost); `num_classes` replaces the source's."""
        return DataInfo(
            kind=getattr(source, "task", ""),
            in_channels=getattr(source, "in_channels", 3),
            image_size=(int(image_size[0]), int(image_size[1])),
            num_classes=num_classes if num_classes is not None else getattr(source, "num_classes", None),
            ignore_index=getattr(source, "ignore_index", None),
            min_depth=getattr(source, "min_depth", None),
            max_depth=getattr(source, "max_depth", None),
            eval_crop=getattr(source, "eval_crop", None),
        )

    def _loader(self, dataset: Dataset | None, train: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}.setup() did not create this split")
        sampler = EpochSeededRandomSampler(len(dataset), self.shuffle_seed) if train else None
        return DataLoader(
            dataset,
            batch_size=self.batch_size if train else self.eval_batch_size,
            sampler=sampler,
            shuffle=False,
            num_workers=self.num_workers,
            drop_last=train and len(dataset) > self.batch_size,
            persistent_workers=self.num_workers > 0,
            collate_fn=type(self).collate_fn,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, train=False)

    def test_dataloader(self) -> DataLoader:
        test = self.test_set or self.val_set
        if self.corruption is not None and test is not None:
            test = CorruptedSet(test, self.corruption, self.pixel_stats())
        return self._loader(test, train=False)


def holdout(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(kept, held out): a fixed random `fraction` of n training items held out for validation.

    The data sets whose protocol scores the official validation or test split report on it
    (`test`), so model selection needs its own split: a part of training, drawn by the data's
    seed. fraction 0 holds nothing out (then validation is the test split, as in the papers'
    own code, and the README says so).
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"val_holdout must lie in [0, 1), got {fraction}")
    if fraction == 0.0 or n < 2:
        return list(range(n)), []
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    k = min(n - 1, max(1, round(fraction * n)))
    return sorted(order[k:]), sorted(order[:k])


def require_dir(root: str | Path | None, layout: str, dataset: str, key: str = "data.root") -> Path:
    """Check that a dataset folder exists; else raise naming the path (or the unset `key`) and
    the expected layout."""
    if root is None or str(root) == "":
        raise FileNotFoundError(f"{dataset}: set {key} to its folder; expected layout:\n{layout}")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"{dataset}: folder {path} does not exist; expected layout:\n{layout}")
    return path


def require_file(path: Path, layout: str, dataset: str) -> Path:
    """Check that a file of a dataset exists; else raise naming it and the expected layout."""
    if not path.is_file():
        raise FileNotFoundError(f"{dataset}: missing {path}; expected layout:\n{layout}")
    return path
