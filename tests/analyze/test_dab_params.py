"""Per-block distributions of DAB's k, b, a (BiDense Eqs. 5, 10; Fig. 6a-c)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bnnbench.analyze.dab_params import dab_parameters, histograms, plot, summaries
from bnnbench.blocks.base import ConvSlot
from bnnbench.blocks.plain import PlainBlock


class TwoConvBlock(nn.Module):
    """A model's block holding two block slots, as a ConvNeXt block holds dwconv and pwconv."""

    def __init__(self, dab: dict) -> None:
        super().__init__()
        self.first = PlainBlock(ConvSlot(4, 4, 3, padding=1, binarizer=dab))
        self.second = PlainBlock(ConvSlot(4, 4, 1, binarizer=dab))


def model(dab: dict) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 1), TwoConvBlock(dab), TwoConvBlock(dab))


def test_dab_parameters_read_back_the_values_set():
    net = model({"name": "dab"})
    set_values = {}
    with torch.no_grad():
        for i, (name, m) in enumerate((n, m) for n, m in net.named_modules() if type(m).__name__ == "DAB"):
            for j, p in enumerate(("k", "b", "a")):
                values = torch.arange(4, dtype=torch.float32) * (i + 1) + 10 * j
                getattr(m, p).copy_(values.view(1, 4, 1, 1))
                set_values[(name, p)] = values.numpy()
    found = dab_parameters(net)
    assert [(d["block"], d["block_index"], d["role"]) for d in found] == [
        ("1", 0, "first"), ("1", 0, "second"), ("2", 1, "first"), ("2", 1, "second")]
    for d in found:
        for p in ("k", "b", "a"):
            np.testing.assert_array_equal(d["values"][p], set_values[(d["module"], p)])
    rows = summaries(found)
    assert len(rows) == 4 * 3
    first = rows[0]  # module 1.first.conv.binarizer, k = [0, 1, 2, 3]
    assert (first["param"], first["mean"], first["median"], first["min"], first["max"]) == ("k", 1.5, 1.5, 0.0, 3.0)
    hist = histograms(found, bins=5)
    for d in found:
        for p in ("k", "b", "a"):
            assert sum(r["count"] for r in hist if r["module"] == d["module"] and r["param"] == p) == 4


def test_ablated_dab_has_only_its_own_parameters(tmp_path):
    net = model({"name": "dab", "threshold": "learnable", "scale": "none"})
    found = dab_parameters(net)
    assert all(set(d["values"]) == {"b"} for d in found)
    assert {r["param"] for r in summaries(found)} == {"b"}
    out = plot(found, tmp_path / "dab.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
