"""A run's model rebuilt from its saved config, with a checkpoint's weights (library code: no CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from bnnbench.core.checkpoint import load_weights
from bnnbench.run import job


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
    cfg = OmegaConf.load(config)
    job.check(cfg)
    dm = job.build_datamodule(cfg)
    model = job.build_model(cfg, dm.info)
    load_weights(model, ckpt, "ckpt")
    return model.eval(), dm, config


__all__ = ["load_run_model", "run_config"]
