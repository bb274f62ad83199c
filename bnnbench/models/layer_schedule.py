"""Per-layer block options: ES-BNN's tau and g set per stage or per layer (Shi et al. 2025,
Sec. 3.4 and Table 8: larger tau*g in deeper layers), and the re-expansion of features where
the number of replicas changes between two layers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

# block options that may be given as one value per stage or per layer
PER_LAYER_OPTIONS = ("tau", "groups")


def is_per_layer(options: Mapping[str, Any]) -> bool:
    """Whether any per-layer option of a block config is a list (a scalar keeps one value)."""
    return any(isinstance(options.get(k), Sequence) and not isinstance(options.get(k), str) for k in PER_LAYER_OPTIONS)


def resolve(options: Mapping[str, Any], stage_slots: Sequence[int]) -> list[dict[str, Any]]:
    """One option dict per block slot: scalars repeated, lists of one value per stage (len =
    number of stages) spread over each stage's slots, lists of one value per slot kept."""
    total, stages = sum(stage_slots), len(stage_slots)
    per_slot: dict[str, list[Any]] = {}
    for key in PER_LAYER_OPTIONS:
        value = options.get(key)
        if not (isinstance(value, Sequence) and not isinstance(value, str)):
            continue
        values = list(value)
        if len(values) == total:
            per_slot[key] = values
        elif len(values) == stages:
            per_slot[key] = [v for v, n in zip(values, stage_slots) for _ in range(n)]
        else:
            raise ValueError(
                f"block option {key} has {len(values)} values: give one per stage ({stages}) or one per "
                f"layer ({total}), or a single value"
            )
    return [{**options, **{k: v[i] for k, v in per_slot.items()}} for i in range(total)]


class Reexpand(nn.Module):
    """Replica-major features of `expansion_in` replicas of `channels` to `expansion_out`
    replicas: tiled when the count grows by an integer factor, averaged in groups when it
    shrinks by one (ES-BNN's replicas between layers of different tau*g)."""

    def __init__(self, channels: int, expansion_in: int, expansion_out: int) -> None:
        super().__init__()
        hi, lo = max(expansion_in, expansion_out), min(expansion_in, expansion_out)
        if hi % lo:
            raise ValueError(
                f"the replicas change from {expansion_in} to {expansion_out} between two layers: one must "
                f"divide the other (tau*g per layer, e.g. 2, 4, 8)"
            )
        self.channels, self.expansion_in, self.expansion_out = channels, expansion_in, expansion_out

    def extra_repr(self) -> str:
        return f"channels={self.channels}, {self.expansion_in} -> {self.expansion_out} replicas"

    def forward(self, x: Tensor) -> Tensor:
        if self.expansion_out >= self.expansion_in:
            return x.repeat(1, self.expansion_out // self.expansion_in, 1, 1)
        n, _, h, w = x.shape
        k = self.expansion_in // self.expansion_out
        return x.reshape(n, k, self.expansion_out * self.channels, h, w).mean(1)
