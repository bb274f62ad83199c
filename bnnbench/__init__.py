"""bnnbench: one interface for binary neural network methods: any binarizer, any block, any task.

Sub-packages are imported lazily so that `import bnnbench.kernels` stays light: it needs torch
(and triton on a GPU) only, not Hydra, smp or wandb.
"""

from __future__ import annotations

__version__ = "0.1.0"


def __getattr__(name: str):
    """Lazy `bnnbench.export` (a callable module: `bnnbench.export(model)` packs a model)."""
    if name == "export":
        import importlib

        return importlib.import_module("bnnbench.export")
    raise AttributeError(f"module 'bnnbench' has no attribute {name!r}")
