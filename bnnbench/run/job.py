"""One job from its config: data module, model and task, wired by what each declares.

Library code (no Hydra): the CLI, export and tests build runs through here. Nothing below
knows any task: the data module describes itself (`DataInfo`), the task says what data kinds
it trains on and what its model must output, and `bnnbench.models.compat` says which components
cannot work together. Every check runs before any data is read.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch import nn

import bnnbench.blocks  # noqa: F401  (importing the packages fills the registries)
import bnnbench.data  # noqa: F401
import bnnbench.tasks  # noqa: F401
from bnnbench.binarizers import BinarizerSpec
from bnnbench.core.registry import (
    BLOCKS,
    DATASETS,
    MODELS,
    TASKS,
    Registry,
    check_keys,
    entry_options,
    parse_component,
)
from bnnbench.data.base import BaseDataModule
from bnnbench.data.corruption import grid
from bnnbench.models import compat
from bnnbench.tasks.optim import check_optimizer, check_scheduler

CONFIG_DIR = Path(__file__).parent.parent / "conf"  # the Hydra config groups (conf/<group>/<name>.yaml)
AUTO = "auto"  # block=auto: the model's own block
# data keys of the run, not of the data module: the test split's corruption grid (robustness)
DATA_RUN_KEYS = ("corruption", "severity")


def plain(cfg: Any) -> dict[str, Any]:
    """A config node (OmegaConf or mapping) as a plain dict, interpolations resolved."""
    if cfg is None:
        return {}
    from omegaconf import DictConfig, OmegaConf

    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    return dict(cfg)


def check_options(registry: Registry, name: str, options: Mapping[str, Any], fixed: tuple[str, ...] = ()) -> None:
    """Raise naming the valid keys when `options` has a key that entry `name` does not take.

    `fixed` are the arguments the job passes itself (not config keys).
    """
    valid, any_keyword = entry_options(registry.get(name))
    if not any_keyword:
        check_keys(f"{registry.kind} {name!r}", options, [k for k in valid if k not in fixed])


def _component(cfg: Mapping[str, Any], group: str) -> tuple[str, dict[str, Any]]:
    return parse_component(plain(cfg[group]), group)


def _data(cfg: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The data set's name and its module's options (the run's own data keys left out)."""
    name, options = _component(cfg, "data")
    return name, {k: v for k, v in options.items() if k not in DATA_RUN_KEYS}


def corruption_grid(cfg: Mapping[str, Any]) -> list[Any]:
    """The robustness grid of `data.corruption` x `data.severity` (empty: the clean test only),
    its draws seeded by the data's seed (the same corrupted images for every training seed)."""
    data = plain(cfg["data"])
    return grid(data.get("corruption"), data.get("severity"), int(data.get("seed") or 0))


def _block(cfg: Mapping[str, Any]) -> dict[str, Any] | None:
    name, options = _component(cfg, "block")
    return None if name == AUTO else {"name": name, **options}


def check(cfg: Mapping[str, Any]) -> None:
    """Every name registered, every option known, and task, data, model and block compatible."""
    missing = sorted(OmegaConf.missing_keys(cfg)) if isinstance(cfg, DictConfig) else []
    if cfg.get("mode") == "cost":  # counting reads no data and no weights
        missing = [k for k in missing if not (k.startswith("data.") or k == "init_from")]
    if missing:
        raise ValueError(
            f"required value{'s' if len(missing) > 1 else ''} not set: {', '.join(missing)} "
            f"(give {missing[0]}=... on the command line)"
        )
    seed = cfg.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    block_cfg = plain(cfg["block"])
    if block_cfg.get("name") == AUTO and len(block_cfg) > 1:
        model_name = plain(cfg["model"]).get("name")
        natural = MODELS.meta(model_name).get("natural_block", "plain") if model_name in MODELS else "its own block"
        extra = ", ".join(f"block.{k}" for k in block_cfg if k != "name")
        raise ValueError(
            f"block=auto uses model {model_name!r}'s own block ({natural}) with its defaults, so {extra} would be "
            f"ignored: name the block to set its options (block={natural} {extra.split(',')[0]}=...)"
        )

    task, task_opts = _component(cfg, "task")
    data, data_opts = _data(cfg)
    corruption_grid(cfg)  # a bad corruption or severity is named before any work
    model, model_opts = _component(cfg, "model")
    TASKS.check(task)
    DATASETS.check(data)
    MODELS.check(model)
    BinarizerSpec.of(plain(cfg["binarizer"]))
    block = _block(cfg)
    if block is not None:
        BLOCKS.check(block["name"])
    check_options(DATASETS, data, data_opts)
    check_options(MODELS, model, model_opts, ("block", "binarizer"))
    check_options(TASKS, task, task_opts, ("model", "teacher"))

    if cfg.get("optimizer") is not None:
        check_optimizer(plain(cfg["optimizer"]))
    if cfg.get("scheduler") is not None:
        check_scheduler(plain(cfg["scheduler"]))
    compat.check_task(task, data, getattr(DATASETS.get(data), "task", ""), model)
    compat.check_block_in_model(block, model)


def build_datamodule(cfg: Mapping[str, Any]) -> Any:
    """The data module of `cfg.data`: its samples and splits follow `data.seed` (the code's
    default unless set), its training order the run's `seed`, so a mean over seeds measures
    training noise on fixed data."""
    name, options = _data(cfg)
    dm = DATASETS.build(name, **options)
    dm.shuffle_seed = int(cfg.get("seed", 0))
    return dm


def describe_data(cfg: Mapping[str, Any]) -> Any:
    """The data's description without reading its files when they are absent (mode=cost).

    Builds the data module when it can; a data set whose folder is missing is described from
    its class (kind, channels, classes) and the configured image size. With mode=cost,
    `cost_classes` (when set) replaces the number of classes (ImageNet's 1000 without its folders).
    """
    info = _describe_data(cfg)
    classes = cfg.get("cost_classes") if cfg.get("mode") == "cost" else None
    return info if classes is None else replace(info, num_classes=int(classes))


def _describe_data(cfg: Mapping[str, Any]) -> Any:
    try:
        return build_datamodule(cfg).info
    except FileNotFoundError:  # described from its class (its options' image size and classes)
        name, options = _data(cfg)
        return BaseDataModule.describe(DATASETS.get(name), options.get("image_size") or (224, 224),
                                       options.get("num_classes"))


def build_model(cfg: Mapping[str, Any], info: Any) -> nn.Module:
    """The model of `cfg.model`, its convs built from `cfg.block` with `cfg.binarizer`, sized
    to the data's input and to what the task needs it to output (after `check(cfg)`, which has
    refused a block the model cannot hold: built from the registry without a second check)."""
    task, _ = _component(cfg, "task")
    name, options = _component(cfg, "model")
    builder = MODELS.get(name)
    params = inspect.signature(builder).parameters
    inputs = {"in_channels": info.in_channels, "input_size": info.image_size}
    kwargs = {k: v for k, v in inputs.items() if k in params}
    kwargs.update(TASKS.get(task).model_kwargs(info))
    block = _block(cfg)
    if block is not None:
        kwargs["block"] = block
    return MODELS.build(name, binarizer=BinarizerSpec.of(plain(cfg["binarizer"])), **kwargs, **options)


def build_task(cfg: Mapping[str, Any], model: nn.Module, info: Any, teacher: nn.Module | None = None) -> Any:
    """The task of `cfg.task` around `model`, told what it needs of the data by `info`, distilling
    from `teacher` when one is given (the recipe's, `bnnbench.run.recipe`)."""
    name, options = _component(cfg, "task")
    for group in ("optimizer", "scheduler"):  # their own config groups
        if cfg.get(group) is not None:
            options[group] = plain(cfg[group])
    if teacher is not None:
        options["teacher"] = teacher
    return TASKS.get(name).from_data(model, info, **options)


__all__ = ["AUTO", "DATA_RUN_KEYS", "corruption_grid", "build_datamodule", "describe_data", "build_model", "build_task", "check", "check_options", "plain"]
