"""Job folder names from a run's command-line overrides, safe to paste back unquoted.

Hydra's own `override_dirname` writes `key=value,key=value`: a checkpoint path under such a
folder cannot be passed back as an override without quotes ('=' and ',' are grammar), and a
path value (`data.root=/data/ADE`) nests the job folder. Here a setting becomes `key-value`,
settings are joined by `+`, path-valued and bookkeeping settings are left out, other
characters outside Hydra's unquoted set become `_`, and names longer than `MAX_LEN` keep their
start and gain a short hash of the whole, so different jobs never share a folder. Settings are
sorted by key: the same overrides in any order name the same folder (so `resume=true` finds it).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

MAX_LEN = 120
# settings that say how to run a job, not which job it is
EXCLUDED = ("resume", "ckpt_path", "init_from", "logger", "experiment", "mode", "trainer.enable_progress_bar")
# keys whose values are paths (also any value with a path separator)
PATH_KEY = re.compile(r"(^|\.)(root|eval_root|ckpt|ckpt_path|checkpoint|teacher_ckpt|backbone_ckpt|path|dir|file)$")
UNSAFE = re.compile(r"[^A-Za-z0-9_.@%\-]")


def _key(key: str) -> str:
    """A key as a name part: `+` / `~` dropped, and an experiment's row group by its own name
    (`+experiment/bidense_table4=full` -> `bidense_table4-full`)."""
    key = key.lstrip("+~")
    return UNSAFE.sub("_", key.removeprefix("experiment/"))


def keep(key: str, value: str) -> bool:
    """Whether the setting `key=value` belongs in the job's name."""
    bare = key.lstrip("+~")
    if bare.startswith("hydra") or bare in EXCLUDED or PATH_KEY.search(bare):
        return False
    return not any(sep in value for sep in ("/", "\\")) and not value.startswith("~")


def _value(value: str) -> str:
    """A value as a name part: list brackets dropped, items joined by `_`."""
    return UNSAFE.sub("_", value.strip().strip("[](){}").replace(", ", ",").replace(",", "_"))


def settings(overrides: Iterable[str]) -> dict[str, str]:
    """The named settings of a job's overrides, as {key: value} sorted by key (the ones its name shows)."""
    out = {}
    for item in overrides:
        key, _, value = str(item).partition("=")
        if keep(key, value):
            out[_key(key)] = value
    return dict(sorted(out.items()))


def job_name(overrides: Iterable[str], fallback: str = "") -> str:
    """The folder name of the job run with `overrides` (e.g. ["binarizer=dab", "seed=1"])."""
    name = "+".join(f"{key}-{_value(value)}" for key, value in settings(overrides).items()) or str(fallback)
    if len(name) > MAX_LEN:
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        name = f"{name[:MAX_LEN - 9]}+{digest}"
    return name


TEST_PREFIX = "test-"  # mode=test writes into <job>/test-<time>/, never into the training files


def run_dir(base: str, overrides: Iterable[str], mode: str, stamp: str) -> str:
    """A single run's folder: `<base>/<job>`, or `<base>/<job>/test-<stamp>` for mode=test."""
    parts = [base.rstrip("/"), job_name(overrides)]
    if mode == "test":
        parts.append(f"{TEST_PREFIX}{stamp}")
    return "/".join(p for p in parts if p)


def register_resolver() -> None:
    """Make `${bnnbench_job:...}` and `${bnnbench_run_dir:...}` available to the Hydra configs."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("bnnbench_job"):
        OmegaConf.register_new_resolver("bnnbench_job", lambda overrides, fallback="": job_name(list(overrides), fallback))
    if not OmegaConf.has_resolver("bnnbench_run_dir"):
        OmegaConf.register_new_resolver(
            "bnnbench_run_dir", lambda base, overrides, mode, stamp: run_dir(base, list(overrides), str(mode), str(stamp))
        )


__all__ = ["TEST_PREFIX", "job_name", "keep", "register_resolver", "run_dir", "settings"]
