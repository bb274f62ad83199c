"""Every registered model built small and run forward and backward through the same checks."""

import pytest
import torch

from bnnbench import models
from bnnbench.core import complexity

DENSE = {"out_channels": 5}
CLS = {"num_classes": 10, "input_size": (32, 32), "width_mult": 0.125}
# the smallest sensible configuration of each model; a new model must add itself here
SMALL = {
    "convnext_upernet": {**DENSE, "dims": [8, 16, 16, 16], "depths": [1, 1, 1, 1], "decoder_channels": 16,
                         "head_channels": 16},
    "smp": {**DENSE, "arch": "Unet", "encoder_name": "resnet18",
            "options": {"decoder_channels": [16, 16, 8, 8, 8]}},
    "reactnet_a": CLS,
    "bdnet_a": CLS,
    "bdnet_b": CLS,
    "mobilenet_v1": CLS,
    "resnet18": CLS,
    "resnet20": {"num_classes": 10, "input_size": (32, 32)},
    "shufflenet_v1": {**CLS, "depths": [1, 1, 1]},
    "shufflenet_v1_bdnet_b": {**CLS, "depths": [1, 1, 1]},
    "mobilenet_v3": {**CLS, "variant": "small"},
    "mobilenet_v3_bdnet_b": {**CLS, "variant": "small"},
    "vit": {"num_classes": 10, "input_size": (32, 32), "embed_dim": 16, "depth": 1, "num_heads": 2},
    "bidet_r18": {"num_classes": 3, "input_size": (32, 32), "widths": [8, 8, 16, 16], "anchor_sizes": [8, 16],
                  "roi_batch": 8, "rpn_post_nms_test": 10},
    "bidiffsr_unet": {"channels": 8, "channel_mults": [1, 2], "res_blocks": 1, "norm_groups": 4, "dropout": 0.0},
}
# a detector trains on (images, boxes): its output is the sum of its losses
TARGETS = [{"boxes": torch.tensor([[2.0, 3, 20, 30]]), "labels": torch.tensor([1])},
           {"boxes": torch.tensor([[10.0, 0, 31, 12]]), "labels": torch.tensor([2])}]


def test_every_model_has_a_small_configuration():
    assert sorted(SMALL) == models.names(binary=True)  # real-only baselines: tests/models/test_upernet_convnext.py


@pytest.mark.parametrize("name", models.names(binary=True))
@pytest.mark.parametrize("binarizer", ["fp", "dab"])
def test_every_model_forward_backward(name, binarizer):
    torch.manual_seed(0)
    model = models.build(name, binarizer=binarizer, **SMALL[name])
    x = torch.randn(2, 3, 32, 32)
    if models.MODELS.meta(name)["output"] == "detections":
        out = sum(model(list(x), TARGETS).values())
        assert out.shape == ()
    elif models.MODELS.meta(name)["output"] == "sr":  # a denoiser: (x_t, condition, timestep)
        out = model(x, x, torch.tensor([3, 1500]))
        assert out.shape == x.shape
    else:
        out = model(x)
        assert out.shape == ((2, 5, 32, 32) if "out_channels" in SMALL[name] else (2, 10))
    out.square().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    cost = complexity.count(model, (3, 32, 32))
    assert (cost.bops > 0) == (binarizer != "fp")
