"""The classifier reading every replica (`readout: full`), as ES-BNN's ImageNet ResNet-18 does:
its Table 6 FC FLOPs grow from 512 x 1000 (0.005e8) to tau*g x 512 x 1000 = 0.041e8 (tau*g = 8)."""

from pathlib import Path

import pytest
import torch
import yaml

from bnnbench import models
from bnnbench.core import complexity
from bnnbench.run.settings import CONFIG_PATH

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

TABLE8 = yaml.safe_load((Path(CONFIG_PATH) / "experiment" / "es_table8.yaml").read_text())["block"]


def test_full_readout_feeds_every_replica_to_the_classifier():
    model = models.build("resnet20", block={"name": "es", "tau": 4, "groups": 2}, readout="full",
                         num_classes=10, width_mult=0.5).eval()
    assert model.head.fc.in_features == 8 * 32  # tau*g replicas of ResNet-20's last 64 * 0.5 channels
    feats = torch.randn(2, 8 * 32, 4, 4)
    assert torch.allclose(model.head(feats), model.head.fc(feats.mean((2, 3))), atol=1e-6)
    with pytest.raises(ValueError, match=r"readout must be one of \('first', 'mean', 'full'\), got 'all'"):
        models.build("resnet20", readout="all")


def test_es_table6_fc_flops():
    # ES-BNN Table 6, FC FLOPs: baseline 0.005e8, ES-BNN 0.041e8 (Appendix Table 8's last layer: tau*g = 8)
    es = complexity.count(models.build("resnet18", block={"name": "es", **TABLE8}, readout="full"), (3, 224, 224))
    assert es.fc_flops == 8 * 512 * 1000 and round(es.fc_flops / 1e8, 3) == 0.041
    base = complexity.count(models.build("resnet18"), (3, 224, 224))
    assert base.fc_flops == 512 * 1000 and round(base.fc_flops / 1e8, 3) == 0.005
    assert es.conv_flops == base.conv_flops and es.bops == base.bops  # Table 6: Conv FLOPs and BOPs unchanged
