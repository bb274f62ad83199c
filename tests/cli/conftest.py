"""Helpers to compose the CLI's config in-process, sized to run in seconds."""

from __future__ import annotations

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from bnnbench.run.settings import CONFIG_PATH

TINY = [
    "model.dims=[8,16,16,16]",
    "model.depths=[1,1,1,1]",
    "model.decoder_channels=16",
    "model.head_channels=16",
    "data.train_size=32",
    "data.val_size=16",
    "data.batch_size=8",
    "data.image_size=[32,32]",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
    "trainer.log_every_n_steps=1",
]


def make_cfg(*overrides: str, tiny: bool = True) -> DictConfig:
    """The composed config of `python -m bnnbench <overrides>` (plus TINY unless tiny=False)."""
    with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
        return compose("config", overrides=[*(TINY if tiny else []), *overrides])
