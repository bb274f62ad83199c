"""The one reader of model weights from a file: a run's Lightning checkpoint or a state dict."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

PREFIX = "model."  # a task holds its network as `self.model`


def read_state_dict(path: str | Path, what: str = "checkpoint", prefix: str = PREFIX) -> dict[str, Tensor]:
    """The weights stored at the local file `path`.

    Accepts a Lightning checkpoint of a bnnbench run (weights under `state_dict` with keys
    `model.*`, stripped), a state dict nested under `state_dict` or `model`, or a plain state
    dict. `what` names the setting the path came from, for the error messages.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"{what}={file} does not exist (weights are read from local files only)")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # our own Lightning checkpoints also hold hyper-parameters and RNG states; the path is
        # one the user named, so a full load is what they asked for
        state = torch.load(file, map_location="cpu", weights_only=False)
    for key in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{what}={file} holds neither a Lightning checkpoint nor a state dict")
    if prefix and any(k.startswith(prefix) for k in state):
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return dict(state)


def load_weights(module: nn.Module, path: str | Path, what: str = "checkpoint") -> None:
    """Load the weights at `path` into `module` (strict); a mismatch names the keys that differ."""
    state = read_state_dict(path, what)
    try:
        module.load_state_dict(state)  # a module may adapt the keys (smp encoders drop `fc.*`)
        return
    except RuntimeError:
        pass
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or shapes:
        def few(keys: list[str]) -> str:
            return ", ".join(keys[:5]) + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")

        parts = [f"missing {few(missing)}" if missing else "", f"unexpected {few(unexpected)}" if unexpected else "",
                 f"other shapes {few(shapes)}" if shapes else ""]
        raise ValueError(
            f"{what}={Path(path).expanduser()} does not fit the model ({type(module).__name__}): "
            + "; ".join(p for p in parts if p)
            + " (a checkpoint of another model, block or binarizer?)"
        )
    module.load_state_dict(state)  # same keys and shapes: only a dtype issue can remain


__all__ = ["PREFIX", "load_weights", "read_state_dict"]
