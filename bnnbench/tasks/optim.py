"""Optimizers and LR schedules from plain config dicts, with a decay / no-decay parameter split."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from bnnbench.core.registry import check_keys

# the defaults of each optimizer; conf/optimizer/<name>.yaml holds the same values (a test checks)
OPTIMIZER_DEFAULTS: dict[str, dict[str, Any]] = {
    "adamw": {"lr": 1e-3, "weight_decay": 0.01, "betas": [0.9, 0.999]},
    "adam": {"lr": 5e-3, "weight_decay": 0.0},
    "sgd": {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4},
}
DEFAULT_OPTIMIZER: dict[str, Any] = {"name": "adamw", **OPTIMIZER_DEFAULTS["adamw"]}
# BiDense recipe: AdamW + OneCycle; max_lr defaults to the optimizer's lr
DEFAULT_SCHEDULER: dict[str, Any] = {
    "name": "onecycle",
    "pct_start": 0.1,
    "div_factor": 25.0,
    "final_div_factor": 1e4,
    "anneal_strategy": "cos",
}
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adamw": torch.optim.AdamW,
    "adam": torch.optim.Adam,
    "sgd": torch.optim.SGD,
}
SCHEDULERS: tuple[str, ...] = ("onecycle", "cosine", "linear", "none")

# the scheduler classes behind each name (`none` takes no options)
_SCHEDULER_CLASSES: dict[str, type] = {
    "onecycle": torch.optim.lr_scheduler.OneCycleLR,
    "cosine": torch.optim.lr_scheduler.CosineAnnealingLR,
    "linear": torch.optim.lr_scheduler.LinearLR,
}

_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)
if hasattr(nn, "RMSNorm"):
    _NORMS = (*_NORMS, nn.RMSNorm)


def split_decay_params(
    model: nn.Module, no_decay_1d: bool = True
) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(decay, no_decay) trainable parameters.

    No decay for biases and normalisation parameters; with `no_decay_1d` also for every
    parameter with at most one dimension (learnable thresholds and scales of binarizers),
    which decay would pull towards 0 and so change what the binarizer computes.
    """
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    seen: set[int] = set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            skip = isinstance(module, _NORMS) or name == "bias" or (no_decay_1d and param.ndim <= 1)
            (no_decay if skip else decay).append(param)
    return decay, no_decay


def _parameters(cls: type, skip: tuple[str, ...]) -> list[str]:
    params = inspect.signature(cls.__init__).parameters
    return [p for p in params if p not in ("self", *skip)]


def check_optimizer(cfg: Mapping[str, Any] | None) -> None:
    """Raise before any work when the optimizer config names an unknown optimizer or option."""
    cfg = dict(cfg or {})
    name = str(cfg.pop("name", "adamw")).lower()
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}: valid choices are {', '.join(OPTIMIZERS)}")
    check_keys(f"optimizer {name!r}", cfg, _parameters(OPTIMIZERS[name], ("params",)))


def check_scheduler(cfg: Mapping[str, Any] | None) -> None:
    """Raise before any work when the scheduler config names an unknown schedule or option."""
    cfg = dict(cfg or {})
    name = str(cfg.pop("name", "none")).lower()
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}: valid choices are {', '.join(SCHEDULERS)}")
    # the step count is the run's own (`total_steps` overrides it)
    fixed = {"onecycle": ("optimizer", "total_steps"), "cosine": ("optimizer", "T_max"),
             "linear": ("optimizer", "total_iters")}.get(name, ())
    valid = _parameters(_SCHEDULER_CLASSES[name], fixed) if name in _SCHEDULER_CLASSES else []
    check_keys(f"scheduler {name!r}", cfg, ["total_steps", *valid])


def build_optimizer(
    model: nn.Module, cfg: Mapping[str, Any] | None = None, no_decay_1d: bool = True
) -> torch.optim.Optimizer:
    """Optimizer `cfg["name"]` (adamw, adam, sgd) with groups [decay, no-decay (wd 0)]."""
    cfg = dict(DEFAULT_OPTIMIZER if cfg is None else cfg)
    name = str(cfg.pop("name", "adamw")).lower()
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}: valid choices are {', '.join(OPTIMIZERS)}")
    cfg = {**OPTIMIZER_DEFAULTS[name], **cfg}
    if "betas" in cfg:
        cfg["betas"] = tuple(cfg["betas"])  # YAML gives a list
    weight_decay = float(cfg.pop("weight_decay"))
    decay, no_decay = split_decay_params(model, no_decay_1d)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    return OPTIMIZERS[name](groups, **cfg)


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    cfg: Mapping[str, Any] | None,
    total_steps: int | float | Callable[[], int | float],
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Per-step LR schedule `cfg["name"]` (onecycle, cosine, linear, none) over `total_steps`.

    `total_steps` may be a callable so that `none` never asks the trainer for it; a
    `total_steps` key in `cfg` overrides it.
    """
    # None values stand for "not set": a Hydra experiment can only unset keys it merges over
    cfg = {k: v for k, v in dict(DEFAULT_SCHEDULER if cfg is None else cfg).items() if v is not None}
    name = str(cfg.pop("name", "none")).lower()
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}: valid choices are {', '.join(SCHEDULERS)}")
    if name == "none":
        return None
    total = cfg.pop("total_steps", None) or total_steps
    if callable(total):
        total = total()
    if not math.isfinite(total) or total < 1:
        raise ValueError(f"scheduler {name!r} needs a finite number of steps, got {total}")
    total = int(total)
    if name == "onecycle":
        for key, value in DEFAULT_SCHEDULER.items():
            if key != "name":
                cfg.setdefault(key, value)
        if cfg.get("max_lr") is None:
            cfg["max_lr"] = optimizer.param_groups[0]["lr"]
        if total < 3:
            return None  # OneCycleLR needs a warm-up and a decay step
        # OneCycleLR divides by its warm-up length in steps: keep it at least one step
        cfg["pct_start"] = min(max(float(cfg["pct_start"]), 2.0 / total), 0.9)
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, total_steps=total, **cfg)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total, **cfg)
    # linear decay to 0 over training, as in ReActNet
    return torch.optim.lr_scheduler.LinearLR(
        optimizer, start_factor=1.0, end_factor=0.0, total_iters=total, **cfg
    )
