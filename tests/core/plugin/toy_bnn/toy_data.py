"""`gen_toy`: 0 to 3 bright squares on noise; the target is how many."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from bnnbench.data import DATASETS
from bnnbench.data.generated import GeneratedDataModule


class Squares:
    """Draws one (image (3, H, W), count) sample from its generator."""

    def __init__(self, size: Sequence[int]) -> None:
        self.size = (int(size[0]), int(size[1]))

    def __call__(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = self.size
        image = rng.normal(0.0, 0.1, (3, h, w)).astype(np.float32)
        count = int(rng.integers(0, 4))
        for _ in range(count):
            y, x = int(rng.integers(0, h - 3)), int(rng.integers(0, w - 3))
            image[:, y : y + 3, x : x + 3] = 1.0
        return torch.from_numpy(image), torch.tensor(count)


@DATASETS.register("gen_toy")
class GenToyDataModule(GeneratedDataModule):
    """Counting squares: four classes, generated."""

    task = "toy"
    num_classes = 4
    loader_defaults = {"batch_size": 16, "image_size": (16, 16)}

    def __init__(self, train_size: int = 256, val_size: int = 64, test_size: int | None = None, **loader: Any) -> None:
        super().__init__(**loader)
        self.train_size, self.val_size, self.test_size = train_size, val_size, test_size
        self.renderer = Squares(self.image_size)
