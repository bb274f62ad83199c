"""Helpers to compose the CLI's config in-process, sized to run in seconds."""

from __future__ import annotations

import functools
from pathlib import Path

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


def config_options(group: str) -> list[str]:
    """The options of config group `group` as Hydra sees them: the package's files and those of
    any search-path plugin (a component added from outside the package brings its own)."""
    from hydra.core.global_hydra import GlobalHydra

    with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
        return sorted(GlobalHydra.instance().config_loader().get_group_options(group))


def sweep_params(experiment: str) -> dict:
    """The `hydra.sweeper.params` of an experiment file ({} for a single run)."""
    import yaml

    raw = yaml.safe_load(config_file("experiment", experiment).read_text()) or {}
    return ((raw.get("hydra") or {}).get("sweeper") or {}).get("params") or {}


def sweep_rows(experiment: str) -> list[str]:
    """The row overrides (`+experiment/<group>=<row>`) that experiment's sweep runs, expanded as
    Hydra's sweeper does (`glob(*, exclude=...)` over the group's options, or a list)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import Glob

    rows = []
    for key, value in sweep_params(experiment).items():
        if not key.startswith("+experiment/"):
            continue
        override = OverridesParser.create().parse_overrides([f"{key}={value}"])[0]
        choice = override.value()
        names = choice.filter(config_options(key[1:])) if isinstance(choice, Glob) else \
            list(override.sweep_string_iterator())
        rows += [f"{key}={name}" for name in names]
    return rows


@functools.cache
def config_folders() -> tuple[Path, ...]:
    """The config folders of Hydra's search path, in its order."""
    from hydra.core.global_hydra import GlobalHydra

    with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
        sources = GlobalHydra.instance().config_loader().get_sources()
    return tuple(Path(s.path) for s in sources if s.scheme() == "file")


def config_file(group: str, option: str) -> Path:
    """The YAML file of `group/option` in Hydra's search path (the first folder that has it)."""
    for folder in config_folders():
        if (folder / group / f"{option}.yaml").is_file():
            return folder / group / f"{option}.yaml"
    raise FileNotFoundError(f"{group}/{option}.yaml is in no config folder of the search path")


def make_cfg(*overrides: str, tiny: bool = True) -> DictConfig:
    """The composed config of `python -m bnnbench <overrides>` (plus TINY unless tiny=False)."""
    with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
        return compose("config", overrides=[*(TINY if tiny else []), *overrides])
