"""What a data set tells the task and the model: one description, taken whole."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataInfo:
    """The description a data module publishes (`BaseDataModule.info`).

    kind: the task kind its targets are for ("seg", "depth", "cls"); in_channels and
    image_size (H, W): the input the model sees in training; num_classes and ignore_index
    (seg, cls); min_depth, max_depth and eval_crop (depth: the capped range and the named
    evaluation crop of its protocol).
    """

    kind: str
    in_channels: int
    image_size: tuple[int, int]
    num_classes: int | None = None
    ignore_index: int | None = None
    min_depth: float | None = None
    max_depth: float | None = None
    eval_crop: str | None = None


__all__ = ["DataInfo"]
