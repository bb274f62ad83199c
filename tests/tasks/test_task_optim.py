"""BaseTask.configure_optimizers: decay / no-decay groups and LR schedule shapes."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from bnnbench import tasks
from bnnbench.tasks.optim import build_optimizer, build_scheduler


class Thresholded(nn.Module):
    """Conv + BN + a learnable per-channel threshold (a 1-D binarizer parameter)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, padding=1)
        self.bn = nn.BatchNorm2d(2)
        self.threshold = nn.Parameter(torch.zeros(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x)) - self.threshold.view(1, -1, 1, 1)


def _ids(params) -> set[int]:
    return {id(p) for p in params}


def test_adamw_param_groups() -> None:
    model = Thresholded()
    opt = build_optimizer(
        model, {"name": "adamw", "lr": 1e-4, "weight_decay": 0.01, "betas": [0.9, 0.99]}
    )
    assert isinstance(opt, torch.optim.AdamW)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert decay["betas"] == (0.9, 0.99)
    assert _ids(decay["params"]) == {id(model.conv.weight)}
    assert _ids(no_decay["params"]) == _ids(
        [model.conv.bias, model.bn.weight, model.bn.bias, model.threshold]
    )
    # with no_decay_1d off, the binarizer threshold is decayed; biases and norms still are not
    decay, no_decay = build_optimizer(model, {"name": "adamw"}, no_decay_1d=False).param_groups
    assert _ids(decay["params"]) == _ids([model.conv.weight, model.threshold])


def test_sgd_has_momentum_and_unknown_names_fail() -> None:
    opt = build_optimizer(Thresholded(), {"name": "sgd", "lr": 0.1, "weight_decay": 5e-4})
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["momentum"] == 0.9
    with pytest.raises(ValueError, match="adamw, adam, sgd"):
        build_optimizer(Thresholded(), {"name": "lamb"})
    with pytest.raises(ValueError, match="onecycle, cosine, linear, none"):
        build_scheduler(opt, {"name": "step"}, 10)


def _lrs(opt: torch.optim.Optimizer, sched, steps: int) -> list[float]:
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_linear_and_cosine_shapes() -> None:
    # linear (ReActNet): lr_k = lr (1 - k/T); cosine: lr_k = lr (1 + cos(pi k / T)) / 2
    for name, f in [
        ("linear", lambda k: 1 - k / 10),
        ("cosine", lambda k: (1 + math.cos(math.pi * k / 10)) / 2),
    ]:
        opt = build_optimizer(Thresholded(), {"name": "adamw", "lr": 1.0})
        lrs = _lrs(opt, build_scheduler(opt, {"name": name}, 10), 10)
        assert lrs == pytest.approx([f(k) for k in range(10)], abs=1e-9), name
    opt = build_optimizer(Thresholded(), {"name": "adamw", "lr": 1.0})
    assert build_scheduler(opt, {"name": "none"}, lambda: pytest.fail("total asked")) is None


class RecordLR(L.Callback):
    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def test_configure_optimizers_onecycle_in_a_trainer() -> None:
    # torch OneCycleLR (Smith & Topin 2019): starts at max_lr / div_factor, reaches max_lr at
    # step pct_start * T - 1, ends at max_lr / div_factor / final_div_factor at step T - 1.
    # T = trainer.estimated_stepping_batches = 2 epochs x 10 batches = 20.
    max_lr = 1e-3
    task = tasks.build(
        "seg",
        model=Thresholded(),
        num_classes=2,
        optimizer={"name": "adamw", "lr": max_lr, "weight_decay": 0.01, "betas": [0.9, 0.999]},
        scheduler={
            "name": "onecycle",
            "max_lr": max_lr,
            "pct_start": 0.1,
            "div_factor": 25,
            "final_div_factor": 1e4,
            "anneal_strategy": "cos",
        },
    )
    data = TensorDataset(torch.randn(20, 3, 4, 4), torch.randint(0, 2, (20, 4, 4)))
    record = RecordLR()
    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[record],
    )
    trainer.fit(task, DataLoader(data, batch_size=2))
    lrs = record.lrs
    assert len(lrs) == 20
    assert lrs[0] == pytest.approx(max_lr / 25)
    assert max(range(20), key=lrs.__getitem__) == 1 and lrs[1] == pytest.approx(max_lr)
    assert lrs[-1] == pytest.approx(max_lr / 25 / 1e4)
    assert all(a >= b for a, b in zip(lrs[1:-1], lrs[2:], strict=True))  # anneals after the peak
    decay, no_decay = trainer.optimizers[0].param_groups
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.01, 0.0)
    assert trainer.callback_metrics["lr"].item() == pytest.approx(lrs[-1])


def test_onecycle_survives_very_short_runs():
    # OneCycleLR divides by its warm-up length: 5 steps at pct_start 0.1 would be 0.5 steps
    model = torch.nn.Linear(2, 2)
    opt = build_optimizer(model, {"name": "adamw", "lr": 1e-3}, True)
    sched = build_scheduler(opt, {"name": "onecycle", "pct_start": 0.1}, 5)
    for _ in range(5):
        opt.step()
        sched.step()
    assert build_scheduler(opt, {"name": "onecycle"}, 2) is None


def test_none_values_are_unset_keys():
    model = torch.nn.Linear(2, 2)
    opt = build_optimizer(model, {"name": "adam", "lr": 1e-3}, True)
    sched = build_scheduler(opt, {"name": "linear", "pct_start": None, "div_factor": None}, 10)
    assert sched is not None
