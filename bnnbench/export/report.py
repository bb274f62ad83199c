"""Size report of an export: bytes of the binary layers' weights and of the whole model."""

from __future__ import annotations

from typing import Any

from torch import nn

from bnnbench.blocks.conv import BinaryConv2d
from bnnbench.export.layers import PackedConv


def model_bytes(model: nn.Module) -> int:
    """Bytes of a model's parameters and persistent buffers (tensors shared by modules once)."""
    sizes = {}
    for t in model.state_dict().values():
        sizes[(t.device, t.data_ptr())] = max(sizes.get((t.device, t.data_ptr()), 0), t.numel() * t.element_size())
    return sum(sizes.values())


def _ratio(a: int, b: int) -> float | None:
    # None (JSON null) without binary layers, e.g. a real-valued model: a report holds no NaN
    return a / b if b else None


def export_report(float_model: nn.Module, packed_model: nn.Module) -> dict[str, Any]:
    """Weight bytes of the binary layers (float vs packed 1-bit) and total model bytes, before/after."""
    binary = [m for m in float_model.modules() if isinstance(m, BinaryConv2d) and m.binary]
    packed = [m for m in packed_model.modules() if isinstance(m, PackedConv)]
    float_w = sum(m.weight.numel() * m.weight.element_size() for m in binary)
    packed_w = sum(m.weight_bytes() for m in packed)
    # everything a packed layer holds besides its 1-bit weights: epilogue scale/bias, thresholds,
    # DAB statistics' parameters, AdaBin's per-group filters
    packed_other = sum(model_bytes(m) for m in packed) - packed_w
    before, after = model_bytes(float_model), model_bytes(packed_model)
    return {
        "binary_layers": len(binary),
        "packed_layers": len(packed),
        "binary_weight_bytes_float": float_w,
        "binary_weight_bytes_packed": packed_w,
        "binary_weight_ratio": _ratio(float_w, packed_w),
        "packed_layer_other_bytes": packed_other,
        "model_bytes_float": before,
        "model_bytes_packed": after,
        "model_ratio": _ratio(before, after),
    }


__all__ = ["export_report", "model_bytes"]
