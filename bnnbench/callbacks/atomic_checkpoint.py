"""Checkpoints written to a temporary file and renamed: a kill during a save never leaves a
truncated `last.ckpt` (a rename within one folder is atomic), and a save that fails (a full
disk) removes its temporary file and leaves the previous checkpoint as it was."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lightning.pytorch.plugins.io import TorchCheckpointIO


class AtomicCheckpointIO(TorchCheckpointIO):
    """TorchCheckpointIO that saves to `<path>.tmp` and renames it over `<path>`."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        try:
            super().save_checkpoint(checkpoint, tmp, storage_options)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


__all__ = ["AtomicCheckpointIO"]
