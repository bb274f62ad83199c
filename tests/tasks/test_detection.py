"""DetectionTask: one epoch with every binarizer and with ES, losses and scores; the default run learns."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch

from bnnbench import binarizers, data, models
from bnnbench.tasks.detection import DetectionTask

TINY = {"widths": [8, 8, 16, 16], "anchor_sizes": [16, 32], "roi_batch": 8, "rpn_post_nms_test": 20}


def _one_epoch(binarizer, block="bireal") -> dict[str, float]:
    torch.manual_seed(0)
    dm = data.build("gen_det", train_size=8, val_size=4, test_size=4, batch_size=4, image_size=(64, 64))
    model = models.build("bidet_r18", binarizer=binarizer, block=block, num_classes=dm.num_classes,
                         input_size=(64, 64), **TINY)
    task = DetectionTask.from_data(model, dm.info, optimizer={"name": "adam", "lr": 1e-3},
                                   scheduler={"name": "none"})
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(task, datamodule=dm)
    loss = float(trainer.callback_metrics["train/loss"])
    scores = trainer.test(task, datamodule=dm, verbose=False)[0]
    return {"loss": loss, **scores}


@pytest.mark.parametrize("binarizer", binarizers.names())
def test_one_epoch_with_every_binarizer(binarizer):
    out = _one_epoch(binarizer)
    assert math.isfinite(out["loss"]) and out["loss"] > 0
    assert 0.0 <= out["test/mAP"] <= 1.0 and -1.0 <= out["test/coco_mAP"] <= 1.0


@pytest.mark.parametrize("block", [{"name": "es", "tau": 2, "groups": 1}, {"name": "es", "tau": 1, "groups": 2, "base": "plain"}, "reactnet"])
def test_one_epoch_with_other_blocks(block):
    out = _one_epoch("bireal", block)
    assert math.isfinite(out["loss"]) and 0.0 <= out["test/mAP"] <= 1.0


def test_task_declares_what_it_needs():
    dm = data.build("gen_det")
    assert DetectionTask.data_kinds == ("det",) and DetectionTask.model_output == "detections"
    assert DetectionTask.model_kwargs(dm.info) == {"num_classes": 4}


@pytest.mark.slow
def test_default_run_learns(tmp_path):
    """python -m bnnbench task=det: the loss falls and VOC07 mAP reaches 0.2 (whole-image boxes score 0)."""
    import csv

    from bnnbench.run.execute import run
    from tests.cli.conftest import make_cfg

    cfg = make_cfg("task=det", "trainer.enable_progress_bar=false", tiny=False)
    result = run(cfg, output_dir=tmp_path)
    assert result["test/mAP"] >= 0.2
    rows = [r for r in csv.DictReader(open(next(tmp_path.rglob("metrics.csv")))) if r.get("train/loss")]
    first, last = float(rows[0]["train/loss"]), float(rows[-1]["train/loss"])
    assert last < 0.7 * first
