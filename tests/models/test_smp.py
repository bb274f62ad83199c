"""smp models through convert: stem and segmentation head real, the rest binary."""

import pytest
import torch
from torchvision.models import resnet18

from bnnbench import models
from bnnbench.blocks import Block
from bnnbench.core import complexity

SMALL_UNET = dict(decoder_channels=(32, 16, 16, 8, 8))


def test_unet_resnet18_seg_converts_and_trains():
    torch.manual_seed(0)
    model = models.build(
        "smp", arch="Unet", encoder_name="resnet18", out_channels=5, options=SMALL_UNET
    )
    x = torch.randn(2, 3, 64, 64)
    y = model(x)
    assert y.shape == (2, 5, 64, 64)
    y.square().mean().backward()
    assert not [n for n, p in model.named_parameters() if p.grad is None]
    cost = complexity.count(model, (3, 64, 64))
    assert {n for n, kind, _ in cost.layers if kind == "real"} == {
        "net.encoder.conv1",
        "net.segmentation_head.0",
    }
    assert cost.bops > 0


def test_deeplabv3plus_depth_with_dilated_convs():
    torch.manual_seed(0)
    model = models.build(
        "smp",
        arch="DeepLabV3Plus",
        encoder_name="resnet18",
        head_kind="depth",
        max_depth=8.0,
        block="plain",
        binarizer="reactnet",
        options=dict(decoder_channels=32),
    )
    y = model(torch.randn(2, 3, 64, 64))
    assert y.shape == (2, 1, 64, 64) and (y > 0).all() and (y < 8.0).all()
    assert model.net.encoder.layer4[0].conv2.conv.dilation == (2, 2)


def test_local_checkpoint_initialises_kept_and_binary_convs(tmp_path):
    torch.manual_seed(0)
    state = resnet18().state_dict()  # a torchvision checkpoint, classifier included
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    model = models.build(
        "smp", encoder_name="resnet18", out_channels=3, checkpoint=str(path), options=SMALL_UNET
    )
    enc = model.net.encoder
    assert torch.equal(enc.conv1.weight, state["conv1.weight"])
    assert isinstance(enc.layer1[0].conv1, Block)
    assert torch.equal(enc.layer1[0].conv1.conv.weight, state["layer1.0.conv1.weight"])


def test_no_downloads():
    with pytest.raises(ValueError, match="checkpoint"):
        models.build("smp", out_channels=3, options=dict(encoder_weights="imagenet"))
    with pytest.raises(FileNotFoundError):
        models.build("smp", out_channels=3, checkpoint="/nonexistent/encoder.pth")
