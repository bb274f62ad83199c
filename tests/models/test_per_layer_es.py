"""Per-layer ES (ES-BNN, Shi et al. 2025, Sec. 3.4 and Table 8): tau and g per stage or per
layer, replicas re-expanded between layers, and the binary MACs of the base model kept (Eq. 2)."""

from pathlib import Path

import pytest
import torch
import yaml

from bnnbench import models
from bnnbench.blocks.es import ExpandShrinkBlock
from bnnbench.core import complexity
from bnnbench.models.layer_schedule import Reexpand, resolve
from bnnbench.run.settings import CONFIG_PATH

pytestmark = pytest.mark.usefixtures("one_thread")

TABLE8 = yaml.safe_load((Path(CONFIG_PATH) / "experiment" / "es_table8.yaml").read_text())["block"]


def test_resolve_per_stage_and_per_layer():
    opts = resolve({"name": "es", "tau": [2, 4], "groups": 1}, [2, 3])
    assert [o["tau"] for o in opts] == [2, 2, 4, 4, 4] and all(o["groups"] == 1 for o in opts)
    opts = resolve({"tau": 2, "groups": [1, 2, 1, 2, 2]}, [2, 3])
    assert [o["groups"] for o in opts] == [1, 2, 1, 2, 2] and all(o["tau"] == 2 for o in opts)
    with pytest.raises(ValueError, match=r"tau has 3 values: give one per stage \(2\) or one per layer \(5\)"):
        resolve({"tau": [2, 2, 4]}, [2, 3])


def test_reexpand_tiles_or_averages_replicas():
    x = torch.arange(2 * 3.0).view(1, 6, 1, 1)  # 2 replicas of 3 channels
    assert Reexpand(3, 2, 4)(x).flatten().tolist() == [0, 1, 2, 3, 4, 5] * 2
    y = torch.arange(4 * 3.0).view(1, 12, 1, 1)  # 4 replicas -> 2: replica r averages r and r + 2
    assert Reexpand(3, 4, 2)(y).flatten().tolist() == [3, 4, 5, 6, 7, 8]
    with pytest.raises(ValueError, match="from 2 to 3"):
        Reexpand(3, 2, 3)


def test_table8_reading():
    # docs/methods.md: the 15 + 16 reading, tau*g never decreasing with depth (Sec. 3.4)
    tg = [t * g for t, g in zip(TABLE8["tau"], TABLE8["groups"])]
    assert len(tg) == 16 and tg == sorted(tg) and (tg[0], tg[-1]) == (2, 8)


def test_per_layer_es_resnet18_keeps_the_bops_of_the_base_model():
    # ES-BNN Eq. 2 per layer: each conv C_in*tau*g -> C_out/tau with g groups, tiled tau^2*g,
    # so its MACs are C_in*C_out*k^2 whatever tau and g; re-expansion is a copy. Table 6: ResNet-18
    # BOPs 1.676e9 with and without ES (the scalar case is test_cls_cost's)
    es = models.build("resnet18", block={"name": "es", **TABLE8})
    blocks = [m for m in es.modules() if isinstance(m, ExpandShrinkBlock)]
    assert [(b.tau, b.g) for b in blocks] == list(zip(TABLE8["tau"], TABLE8["groups"]))
    assert sum(isinstance(m, Reexpand) for m in es.modules()) == 2  # tau*g 2 -> 4 and 4 -> 8
    cost = complexity.count(es, (3, 224, 224))
    base = complexity.count(models.build("resnet18"), (3, 224, 224))
    assert cost.bops == base.bops == pytest.approx(1.676e9, rel=0.001)
    assert cost.flops == base.flops
    assert es.head.readout.expansion == 8 and es.stem[1].expansion == 2  # last and first layers'


def test_per_stage_es_trains_on_resnet20():
    torch.manual_seed(0)
    model = models.build("resnet20", block={"name": "es", "tau": [2, 2, 4], "groups": [1, 2, 1]}, width_mult=0.5)
    assert [b.expansion for b in model.modules() if isinstance(b, ExpandShrinkBlock)] == [2] * 6 + [4] * 12
    x, y = torch.randn(8, 3, 16, 16), torch.arange(8) % 10
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(5):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert min(losses[1:]) < losses[0]


def test_models_without_a_layer_plan_refuse_lists():
    with pytest.raises(ValueError, match="only models that plan their layers take"):
        models.build("mobilenet_v1", block={"name": "es", "tau": [2, 4]}, width_mult=0.25, num_classes=10)
