"""scikit-learn's bundled 8x8 handwritten digits: a small real data set that needs no download."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bnnbench.data import DATASETS
from bnnbench.data.cls_base import ClsDataModule, TensorImageDataset


@functools.cache
def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    """Images (1797, 8, 8) and labels, parsed once per process (sweeps build many modules)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.images, digits.target


@DATASETS.register("digits")
class DigitsDataModule(ClsDataModule):
    """1,797 real 8x8 grey digits, upsampled to image_size, 3 channels; stratified split."""

    num_classes = 10

    loader_defaults = {"batch_size": 64, "image_size": (32, 32)}

    def __init__(
        self,
        normalize: bool = True,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        noise: float = 0.0,
        **loader: Any,
    ) -> None:
        """`noise`: std of Gaussian noise added once to each 8x8 original (pixels in [0, 1]) before
        upsampling, drawn from the data seed: a fixed, harder data set (the paper-table proxies use
        it so that ResNet-20 does not saturate), not an augmentation."""
        super().__init__(normalize, augment=False, **loader)
        if not (0.0 < val_fraction and 0.0 < test_fraction and val_fraction + test_fraction < 1.0):
            raise ValueError(
                f"digits: val_fraction and test_fraction must be > 0 with a sum < 1, got {val_fraction}, {test_fraction}"
            )
        if noise < 0:
            raise ValueError(f"digits: noise must be >= 0, got {noise}")
        self.val_fraction, self.test_fraction, self.noise = val_fraction, test_fraction, noise
        self.class_names = [str(d) for d in range(10)]

    def setup(self, stage: str | None = None) -> None:
        """Load, split by seed into train / val / test (stratified), resize and normalize once."""
        if self.train_set is not None:
            return
        # imported here: every data module is imported with the package, and sklearn is slow
        from sklearn.model_selection import train_test_split

        raw, target = _load_digits()
        images = torch.from_numpy(raw).float().div_(16.0).unsqueeze(1)  # pixels are 0..16
        labels = torch.from_numpy(target).long()
        held = self.val_fraction + self.test_fraction
        train_idx, rest = train_test_split(
            range(len(labels)), test_size=held, random_state=self.seed, stratify=labels.numpy()
        )
        val_idx, test_idx = train_test_split(
            rest, test_size=self.test_fraction / held, random_state=self.seed, stratify=labels[rest].numpy()
        )
        train_idx, val_idx, test_idx = (torch.tensor(s, dtype=torch.long) for s in (train_idx, val_idx, test_idx))
        if self.noise > 0:
            # at the originals' resolution, so the noise removes information instead of adding
            # texture that the first conv could average away
            g = torch.Generator().manual_seed(self.seed)
            images = images + self.noise * torch.randn(images.shape, generator=g)
        images = F.interpolate(images, size=self.image_size, mode="bilinear", align_corners=False)
        images = images.clamp_(0.0, 1.0).expand(-1, 3, -1, -1).contiguous()
        if self.normalize:
            # statistics of this seed's train split, so val pixels never leak into them
            train = images[train_idx]
            mean, std = train.mean(), train.std()
            self.stats = ((mean.item(),) * 3, (std.item(),) * 3)
            images = (images - mean) / std
        self.train_set = TensorImageDataset(images[train_idx], labels[train_idx])
        self.val_set = TensorImageDataset(images[val_idx], labels[val_idx])
        self.test_set = TensorImageDataset(images[test_idx], labels[test_idx])
