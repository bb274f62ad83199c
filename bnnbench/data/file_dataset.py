"""A dataset of (image file, target file) pairs read and transformed on access."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from bnnbench.data.base import require_file

Pair = tuple[Path, Path]


class PairedFileDataset(Dataset):
    """Items are `finish(*transform(*load(image_path, target_path)))`."""

    def __init__(
        self,
        pairs: Sequence[Pair],
        load: Callable[[Path, Path], tuple[Any, Any]],
        transform: Callable[[Any, Any], tuple[Any, Any]],
        finish: Callable[[Any, Any], tuple[torch.Tensor, torch.Tensor]],
    ) -> None:
        self.pairs = list(pairs)
        self.load = load
        self.transform = transform
        self.finish = finish

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, target = self.load(*self.pairs[index])
        return self.finish(*self.transform(image, target))


def check_pairs(pairs: Sequence[Pair], layout: str, dataset: str, source: Path | str) -> list[Pair]:
    """Every listed file must exist, and the list must not be empty: fail before training."""
    if not pairs:
        raise FileNotFoundError(
            f"{dataset}: no samples found from {source}; expected layout:\n{layout}"
        )
    for image_path, target_path in pairs:
        require_file(image_path, layout, dataset)
        require_file(target_path, layout, dataset)
    return list(pairs)
