"""bnnbench: one interface for binary neural network methods: any binarizer, any block, any task.

Sub-packages are imported lazily so that `import bnnbench.kernels` stays light (the GPU machine
has no Hydra or smp).
"""

from __future__ import annotations

__version__ = "0.1.0"
