"""A trained detector exports: its 17 binary convs become packed layers, its detections stay the same."""

from __future__ import annotations

import pytest
import torch

import bnnbench
from bnnbench import data, models
from bnnbench.blocks.conv import BinaryConv2d
from bnnbench.export import PackedConv, UnsupportedExport

TINY = {"num_classes": 4, "input_size": (64, 64), "widths": [8, 8, 16, 16], "anchor_sizes": [16, 32], "roi_batch": 8,
        "rpn_post_nms_test": 20}


def _trained(binarizer) -> tuple[torch.nn.Module, list[torch.Tensor]]:
    dm = data.build("gen_det", train_size=16, test_size=8, image_size=(64, 64), batch_size=8)
    dm.setup("fit")
    torch.manual_seed(0)
    model = models.build("bidet_r18", binarizer=binarizer, **TINY)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    for images, targets in dm.train_dataloader():  # two steps: BN statistics and weights move off init
        loss = sum(model(images, targets).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), [dm.test_set[i][0] for i in range(8)]


@pytest.mark.parametrize("binarizer", ["bireal", "bnn", {"name": "bireal", "weight": "bidet"}])
def test_exported_detector_finds_the_same_boxes(binarizer):
    model, images = _trained(binarizer)
    packed = bnnbench.export(model, backend="reference")
    assert sum(isinstance(m, BinaryConv2d) and m.binary for m in model.modules()) == 17
    assert sum(isinstance(m, PackedConv) for m in packed.modules()) == 17
    with torch.no_grad():
        ref, got = model(images), packed(images)
    for a, b in zip(ref, got):
        assert len(a["boxes"]) == len(b["boxes"]) > 0 and torch.equal(a["labels"], b["labels"])
        assert torch.allclose(a["boxes"], b["boxes"], atol=1e-3) and torch.allclose(a["scores"], b["scores"], atol=1e-4)


def test_minus_one_padding_has_no_packed_form_yet():
    model = models.build("bidet_r18", binarizer={"name": "bireal", "pad_value": -1}, **TINY).eval()
    with pytest.raises(UnsupportedExport, match="pads its binary input with -1.0"):
        bnnbench.export(model, backend="reference")
