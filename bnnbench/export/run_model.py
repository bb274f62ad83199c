"""A run's model rebuilt from its saved config, with a checkpoint's weights (library code: no CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

AUTO_BLOCK = "auto"  # block=auto in a run's config: the model's own block


def _plain(cfg: Any) -> dict[str, Any]:
    """A config node (OmegaConf or mapping) as a plain dict, interpolations resolved."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    return dict(cfg)


def build_from_config(cfg: Any) -> tuple[nn.Module, Any]:
    """(model, data module) of a run's composed config: `data`, `model`, `block`, `binarizer`, `seed`."""
    from bnnbench import data, models
    from bnnbench.binarizers import BinarizerSpec
    from bnnbench.introspect import accepted_kwargs

    data_opts, model_opts = _plain(cfg["data"]), _plain(cfg["model"])
    data_name, model_name = data_opts.pop("name"), model_opts.pop("name")
    dm = data.build(data_name, **accepted_kwargs(data.DATASETS.get(data_name), seed=cfg["seed"]), **data_opts)
    builder = models.MODELS.get(model_name)
    shared = accepted_kwargs(
        builder, task=dm.task, num_classes=dm.num_classes, in_channels=dm.in_channels,
        max_depth=dm.max_depth, input_size=dm.image_size,
    )
    block = _plain(cfg["block"])
    if block["name"] != AUTO_BLOCK:
        shared["block"] = block
    model = builder(binarizer=BinarizerSpec.of(_plain(cfg["binarizer"])), **shared, **model_opts)
    return model, dm


def run_config(ckpt: Path) -> Path:
    """The Hydra config saved by the run that wrote `ckpt` (<run>/checkpoints/x.ckpt -> <run>/.hydra/config.yaml)."""
    return ckpt.resolve().parent.parent / ".hydra" / "config.yaml"


def load_run_model(ckpt: str | Path, config: str | Path | None = None) -> tuple[nn.Module, Any, Path]:
    """(model in eval mode with the checkpoint's weights, its data module, the config file used)."""
    from omegaconf import OmegaConf

    ckpt = Path(ckpt).expanduser()
    if not ckpt.is_file():
        raise FileNotFoundError(f"ckpt={ckpt} does not exist")
    config = Path(config).expanduser() if config else run_config(ckpt)
    if not config.is_file():
        raise FileNotFoundError(
            f"no Hydra config at {config}: the checkpoint's run folder should hold .hydra/config.yaml "
            "(checkpoints sit in <run>/checkpoints/); pass config=<path> otherwise"
        )
    model, dm = build_from_config(OmegaConf.load(config))
    # a checkpoint of our own run: it also holds optimizer state and hyper-parameters
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    weights = {k[len("model."):]: v for k, v in state.items() if k.startswith("model.")}
    if not weights:
        raise ValueError(f"{ckpt} has no 'model.*' weights in its state_dict")
    model.load_state_dict(weights)
    return model.eval(), dm, config


__all__ = ["build_from_config", "load_run_model", "run_config"]
