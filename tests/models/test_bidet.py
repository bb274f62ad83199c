"""bidet_r18: cost at the test setting against the authors' figures, binary slots, ES, backbone loading."""

from __future__ import annotations

import pytest
import torch

from bnnbench import models
from bnnbench.blocks.conv import BinaryConv2d
from bnnbench.core.complexity import count

TINY = {"widths": [8, 8, 16, 16], "anchor_sizes": [16, 32], "input_size": (64, 64), "num_classes": 3, "roi_batch": 8,
        "rpn_post_nms_test": 20}


@pytest.fixture(scope="module")
def full_cost():
    torch.manual_seed(0)
    return count(models.build("bidet_r18", num_classes=21), (3, 600, 800))


def test_full_model_costs_what_bidet_reports_with_300_rois(full_cost):
    # BiDet's ResNet-18 at 600x800 with 300 RoIs (ZiweiWangTHU/BiDet@fc54511): 54.1 G BOPs, 1.97 G FLOPs
    assert full_cost.bops == pytest.approx(54.1e9, rel=0.03)
    assert full_cost.flops == pytest.approx(1.97e9, rel=0.03)
    assert full_cost.ops == pytest.approx(2.82e9, rel=0.03)


def test_cost_by_part(full_cost):
    def part(prefix: str, kind: str) -> int:
        return sum(m for name, k, m in full_cost.layers if name.startswith(prefix) and k == kind)

    # trunk: stages 1-3 at 150x200, 75x100, 38x50; stem 7x7 conv at 300x400
    assert part("backbone.", "binary") == 4 * 64 * 64 * 9 * 30000 + (64 * 128 + 3 * 128 * 128) * 9 * 7500 + (128 * 256 + 3 * 256 * 256) * 9 * 1900
    assert part("backbone.0.", "real") == 3 * 64 * 49 * 120000
    assert part("rpn.", "binary") == 256 * 512 * 9 * 1900
    # the head (stage 4 on 7x7 RoIs -> 4x4) counts 300 times
    assert part("roi_heads.", "binary") == 300 * (256 * 512 + 3 * 512 * 512) * 9 * 16
    assert part("roi_heads.", "real") == 300 * (256 * 512 * 16 + 512 * 21 + 512 * 4)


def test_all_17_threes_are_binary_and_nothing_else():
    model = models.build("bidet_r18", **TINY)
    binary = [n for n, m in model.named_modules() if isinstance(m, BinaryConv2d) and m.binary]
    assert len(binary) == 17 and all(model.get_submodule(n).kernel_size == (3, 3) for n in binary)
    assert sum(n.startswith("rpn.") for n in binary) == 1 and sum(n.startswith("roi_heads.") for n in binary) == 4


def test_es_widens_the_features_not_the_binary_macs():
    plain = models.build("bidet_r18", **TINY)
    es = models.build("bidet_r18", block={"name": "es", "tau": 2, "groups": 1}, **TINY)
    assert es.backbone.out_channels == 2 * plain.backbone.out_channels == 32
    assert count(es, (3, 64, 64)).bops == count(plain, (3, 64, 64)).bops
    for read in ("first", "mean"):
        m = models.build("bidet_r18", block={"name": "es", "tau": 2, "groups": 2}, readout=read, **TINY).eval()
        with torch.no_grad():
            out = m([torch.rand(3, 64, 64)])
        assert out[0]["boxes"].shape[1] == 4


@pytest.mark.parametrize("binarizer", ["bireal", {"name": "bireal", "weight": "bidet", "pad_value": -1}, "fp"])
def test_train_mode_gives_losses_eval_mode_detections(binarizer):
    torch.manual_seed(0)
    model = models.build("bidet_r18", binarizer=binarizer, **TINY)
    targets = [{"boxes": torch.tensor([[4.0, 6, 30, 40]]), "labels": torch.tensor([1])},
               {"boxes": torch.tensor([[20.0, 10, 60, 50], [0, 0, 20, 20]]), "labels": torch.tensor([2, 1])}]
    losses = model([torch.rand(3, 64, 64), torch.rand(3, 64, 64)], targets)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    sum(losses.values()).backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if n.startswith(("backbone.1.", "rpn.", "roi_heads.box_head")))
    model.eval()
    with torch.no_grad():
        det = model([torch.rand(3, 64, 64)])[0]
    assert set(det) == {"boxes", "scores", "labels"} and len(det["boxes"]) <= 100


def test_backbone_loads_from_a_resnet18_classifier_checkpoint(tmp_path):
    cls = models.build("resnet18", binarizer="bireal", num_classes=10, widths=[8, 8, 16, 16], input_size=(64, 64),
                       imagenet_stem=True)
    torch.save({"state_dict": {f"model.{k}": v for k, v in cls.state_dict().items()}}, tmp_path / "cls.ckpt")
    det = models.build("bidet_r18", backbone_ckpt=str(tmp_path / "cls.ckpt"), **TINY)
    assert torch.equal(det.backbone[0][0].weight, cls.stem[0].weight)
    assert torch.equal(det.backbone[12].conv.weight, cls.features[11].conv.weight)
    assert torch.equal(det.roi_heads.box_head.stage[3].conv.weight, cls.features[15].conv.weight)
    wrong = models.build("resnet18", binarizer="bireal", widths=[8, 8, 16, 32], input_size=(64, 64))
    torch.save(wrong.state_dict(), tmp_path / "wrong.pt")
    with pytest.raises(ValueError, match="does not fit resnet18"):
        models.build("bidet_r18", backbone_ckpt=str(tmp_path / "wrong.pt"), **TINY)


def test_bad_options_name_the_value():
    with pytest.raises(ValueError, match=r"anchor_sizes must be positive pixel sizes, got \[0\]"):
        models.build("bidet_r18", anchor_sizes=[0])
    with pytest.raises(ValueError, match="4 ResNet-18 stage widths"):
        models.build("bidet_r18", widths=[8, 8])


def test_the_rpn_conv_starts_as_bidets_normal_0_01_not_the_binarizers_init():
    # ZiweiWangTHU/BiDet@86ea442 faster_rcnn.py _init_weights: RPN_Conv normal(0, 0.01), bias 0;
    # Bi-Real's own init (the trunk here) is uniform [0, 1e-3)
    torch.manual_seed(0)
    det = models.build("bidet_r18", binarizer="bireal", **TINY)
    (rpn,) = [m for m in det.rpn.head.conv.modules() if isinstance(m, torch.nn.Conv2d)]
    w = rpn.weight.detach()
    assert abs(float(w.std()) - 0.01) < 0.002 and abs(float(w.mean())) < 0.002 and float(w.min()) < 0
    trunk = [m.weight.detach() for m in det.backbone.modules()
             if type(m).__name__ == "BinaryConv2d" and m.kernel_size == (3, 3)]
    assert trunk and all(float(t.min()) >= 0 and float(t.max()) < 1e-3 for t in trunk)
    # a learned scale is fitted to the new weights (SiMaN's alpha = mean|W| at init)
    scaled = models.build("bidet_r18", binarizer="siman", **TINY)
    (conv,) = [m for m in scaled.rpn.head.conv.modules() if isinstance(m, torch.nn.Conv2d)]
    alpha = conv.weight_binarizer.alpha.detach()
    assert torch.allclose(alpha.flatten(), conv.weight.detach().abs().mean(dim=(1, 2, 3)), atol=1e-7)
