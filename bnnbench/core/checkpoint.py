"""The one reader of checkpoint files: a run's Lightning checkpoint or a state dict.

Every checkpoint the project reads goes through `load_checkpoint`, which uses torch's
weights-only unpickler: tensors, numbers, strings and containers, so that a shared file cannot
run code when it is opened (a pickle can). bnnbench's own checkpoints hold nothing else. A file
that the safe loader refuses is refused in one line naming it and what it holds; setting
``BNNBENCH_UNSAFE_LOAD_EXECUTES_CODE=1`` loads such a file with full pickle, which executes any
code the file carries: only for files you made or trust.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

PREFIX = "model."  # a task holds its network as `self.model`
UNSAFE_ENV = "BNNBENCH_UNSAFE_LOAD_EXECUTES_CODE"


class CheckpointError(ValueError):
    """A checkpoint file that is refused or cannot be read (the message names the file and why)."""


def unsafe_load_allowed() -> bool:
    """True if the user opted in to full-pickle loading (BNNBENCH_UNSAFE_LOAD_EXECUTES_CODE=1)."""
    return os.environ.get(UNSAFE_ENV, "").strip() == "1"


def load_checkpoint(path: str | Path, what: str = "checkpoint") -> Any:
    """The object stored at the local file `path`, read by torch's weights-only loader.

    FileNotFoundError for a missing file; CheckpointError (one line naming the file) for a file
    the safe loader refuses (unless BNNBENCH_UNSAFE_LOAD_EXECUTES_CODE=1) or cannot read."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"{what}={file} does not exist (weights are read from local files only)")
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        unsafe = re.search(r"Unsupported global", text)
        if unsafe is None:
            raise CheckpointError(f"{what}={file} is not a readable checkpoint ({_first_line(text)})") from None
        if unsafe_load_allowed():
            return torch.load(file, map_location="cpu", weights_only=False)
        held = re.search(r"GLOBAL ([\w.]+)", text)
        raise CheckpointError(
            f"{what}={file} was refused: it holds {held.group(1) if held else 'an object of another type'}, which only a full pickle load can "
            f"build, and a full load runs any code the file carries (bnnbench checkpoints hold only tensors and "
            f"containers); set {UNSAFE_ENV}=1 only for a file you trust"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise CheckpointError(f"{what}={file} is not a readable checkpoint ({_first_line(str(err))})") from None


def _first_line(text: str) -> str:
    """The reason in torch's error text: its first line, or for the weights-only loader's long
    explanation the line after "WeightsUnpickler error:" (e.g. "Unsupported operand 200")."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if lines and lines[0].startswith("Weights only load failed"):
        marks = [i for i, ln in enumerate(lines) if ln.endswith("WeightsUnpickler error:")]
        if marks and marks[-1] + 1 < len(lines):
            return lines[marks[-1] + 1]
        return lines[-1]
    return lines[0] if lines else "?"


def read_state_dict(path: str | Path, what: str = "checkpoint", prefix: str = PREFIX) -> dict[str, Tensor]:
    """The weights stored at the local file `path`.

    Accepts a Lightning checkpoint of a bnnbench run (weights under `state_dict` with keys
    `model.*`, stripped), a state dict nested under `state_dict` or `model`, or a plain state
    dict. `what` names the setting the path came from, for the error messages.
    """
    file = Path(path).expanduser()
    state = load_checkpoint(file, what)
    for key in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"{what}={file} holds neither a Lightning checkpoint nor a state dict")
    if prefix and any(k.startswith(prefix) for k in state):
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return dict(state)


def written_by(path: str | Path) -> str | None:
    """The run that wrote a checkpoint, from its job's `.hydra/config.yaml` (`<job>/checkpoints/x.ckpt`):
    "task=.. model=.. binarizer=.. block=..", or None when the file is not in a job folder."""
    config = Path(path).expanduser().resolve().parent.parent / ".hydra" / "config.yaml"
    if not config.is_file():
        return None
    import yaml

    try:
        cfg = yaml.safe_load(config.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    names = [(k, (cfg.get(k) or {}).get("name") if isinstance(cfg.get(k), Mapping) else None)
             for k in ("task", "model", "binarizer", "block")]
    return " ".join(f"{k}={v}" for k, v in names if v) or None


def check_fits(own: Mapping[str, Tensor], state: Mapping[str, Any], what: str, path: str | Path,
               given: str) -> None:
    """Raise one line when the weights `state` (read from `path`) do not fit a model whose state
    dict is `own`: the keys and shapes that differ, the run that wrote the file and `given`, the
    run that tried to load it."""
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state)
                    if isinstance(state[k], Tensor) and own[k].shape != state[k].shape)
    if not (missing or unexpected or shapes):
        return

    def few(keys: list[str]) -> str:
        return ", ".join(keys[:3]) + (f" (+{len(keys) - 3} more)" if len(keys) > 3 else "")

    parts = [f"missing {few(missing)}" if missing else "", f"unexpected {few(unexpected)}" if unexpected else "",
             f"other shapes {few(shapes)}" if shapes else ""]
    source = written_by(path)
    fits = f"it was written by a run of {source}" if source else "it is a checkpoint of another model, block or binarizer"
    raise CheckpointError(
        f"{what}={Path(path).expanduser()} does not fit this run's model ({given}): {fits}; "
        + "; ".join(p for p in parts if p)
    )


def load_weights(module: nn.Module, path: str | Path, what: str = "checkpoint", given: str | None = None) -> None:
    """Load the weights at `path` into `module` (strict); a mismatch names the keys that differ,
    the run that wrote the file and `given` (the run loading it; default the module's class)."""
    state = read_state_dict(path, what)
    try:
        module.load_state_dict(state)  # a module may adapt the keys (smp encoders drop `fc.*`)
        return
    except RuntimeError:
        pass
    check_fits(module.state_dict(), state, what, path, given or type(module).__name__)
    module.load_state_dict(state)  # same keys and shapes: only a dtype issue can remain


__all__ = ["PREFIX", "UNSAFE_ENV", "CheckpointError", "check_fits", "load_checkpoint", "load_weights",
           "read_state_dict", "unsafe_load_allowed", "written_by"]
