"""Shared pieces of the image-classification data modules: constants, datasets, transforms."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms import v2

from bnnbench.data.base import BaseDataModule

Stats = tuple[tuple[float, float, float], tuple[float, float, float]]

CIFAR10_STATS: Stats = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
CIFAR100_STATS: Stats = ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))
IMAGENET_STATS: Stats = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
STL10_STATS: Stats = ((0.4467, 0.4398, 0.4066), (0.2603, 0.2566, 0.2713))

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".ppm", ".webp")
Transform = Callable[[torch.Tensor], torch.Tensor]


class ClsDataModule(BaseDataModule):
    """BaseDataModule for classification, with the normalization and augmentation switches.

    `normalize=False` yields float images in [0, 1] (for inspection and tests); `augment=False`
    gives the training split the evaluation transform.
    """

    task = "cls"
    stats: Stats = ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))

    loader_defaults = {"image_size": (32, 32)}

    def __init__(
        self,
        normalize: bool = True,
        augment: bool = True,
        **loader: Any,
    ) -> None:
        super().__init__(**loader)
        if len(self.image_size) != 2:
            raise ValueError(f"image_size must be (H, W), got {self.image_size}")
        self.image_size = (int(self.image_size[0]), int(self.image_size[1]))
        self.normalize = normalize
        self.augment = augment
        self.class_names: list[str] | None = None

    def pixel_stats(self) -> Stats:
        """The normalisation of the images (identity when `normalize=False`)."""
        return self.stats if self.normalize else ((0.0,) * 3, (1.0,) * 3)

    def finish(self, stats: Stats | None = None) -> list[v2.Transform]:
        """The float conversion and, if enabled, normalization that end every transform."""
        mean, std = stats or self.stats
        steps: list[v2.Transform] = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
        if self.normalize:
            steps.append(v2.Normalize(list(mean), list(std)))
        return steps + [v2.ToPureTensor()]  # plain tensors batch and print like the rest

    def crop_flip_transform(self, native: tuple[int, int], padding: int) -> v2.Compose:
        """CIFAR-style training transform: pad-and-random-crop plus horizontal flip."""
        steps = self._resize_if_needed(native)
        if self.augment:
            steps += [
                v2.RandomCrop(self.image_size, padding=padding),
                v2.RandomHorizontalFlip(),
            ]
        return v2.Compose(steps + self.finish())

    def plain_transform(self, native: tuple[int, int]) -> v2.Compose:
        """Evaluation transform for fixed-size sets: resize only if the model size differs."""
        return v2.Compose(self._resize_if_needed(native) + self.finish())

    def resized_crop_transform(self, eval_ratio: float = 256 / 224) -> v2.Compose:
        """ImageNet-style training transform: RandomResizedCrop plus horizontal flip."""
        if not self.augment:
            return self.center_crop_transform(eval_ratio)
        return v2.Compose(
            [v2.RandomResizedCrop(self.image_size, antialias=True), v2.RandomHorizontalFlip()]
            + self.finish()
        )

    def center_crop_transform(self, ratio: float = 256 / 224) -> v2.Compose:
        """ImageNet-style evaluation: resize the shorter side to size * ratio, center crop."""
        short = round(max(self.image_size) * ratio)
        return v2.Compose(
            [v2.Resize(short, antialias=True), v2.CenterCrop(self.image_size)] + self.finish()
        )

    def _resize_if_needed(self, native: tuple[int, int]) -> list[v2.Transform]:
        if tuple(native) == self.image_size:
            return []
        return [v2.Resize(self.image_size, antialias=True)]


class TensorImageDataset(Dataset):
    """In-memory images (N, C, H, W) with labels (N,), passed through an optional transform."""

    def __init__(
        self, images: torch.Tensor, labels: torch.Tensor, transform: Transform | None = None
    ) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = labels.long()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        return image, self.labels[index]


class ImageFileDataset(Dataset):
    """Images read from files, as (path, label) pairs; every image is converted to RGB."""

    def __init__(self, samples: Sequence[tuple[str, int]], transform: Transform | None) -> None:
        self.samples = list(samples)
        self.targets = [label for _, label in self.samples]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        path, label = self.samples[index]
        with Image.open(path) as img:
            image = img.convert("RGB")  # some ImageNet/Tiny ImageNet files are grey or CMYK
        if self.transform is not None:
            image = self.transform(image)
        return image, torch.tensor(label, dtype=torch.long)


def list_images(folder: str | Path) -> list[str]:
    """Image files directly inside `folder`, sorted by name (scandir: fast on ImageNet)."""
    with os.scandir(folder) as entries:
        return sorted(
            e.path for e in entries if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS)
        )


def list_class_dirs(folder: str | Path) -> list[str]:
    """Names of the subfolders of `folder`, sorted (the class order ImageFolder uses)."""
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))
