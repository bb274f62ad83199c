"""Calls `set_epoch(epoch, max_epochs)` on every module that anneals (e.g. AdaBin's EDE)."""

from __future__ import annotations

import lightning as L


class BinarizerSchedule(L.Callback):
    """Once per training epoch, tell annealed surrogates where training stands."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        max_epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else 1
        for module in pl_module.modules():
            set_epoch = getattr(module, "set_epoch", None)
            if callable(set_epoch) and module is not pl_module:
                set_epoch(trainer.current_epoch, max_epochs)
