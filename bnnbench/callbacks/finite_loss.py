"""Stop a job at the first non-finite loss, naming the step and the first layer that went bad."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import nn


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite (the message names the step and the layer)."""


def first_non_finite(model: nn.Module, batch: Any) -> str | None:
    """The first module (in execution order) whose output is not finite on `batch`, or None."""
    found: list[str] = []
    hooks = []

    def hook(name: str):
        def check(module: nn.Module, inputs: Any, output: Any) -> None:
            if not found and isinstance(output, torch.Tensor) and output.is_floating_point() and not torch.isfinite(output).all():
                found.append(f"{name} ({type(module).__name__})")
        return check

    for name, module in model.named_modules():
        if name:
            hooks.append(module.register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            model(batch[0] if isinstance(batch, (tuple, list)) else batch)
    except Exception:  # noqa: BLE001  (a model that cannot rerun the batch still gets the step reported)
        pass
    finally:
        for h in hooks:
            h.remove()
    return found[0] if found else None


class FiniteLoss(L.Callback):
    """Raise NonFiniteLossError when a training step's loss is NaN or infinite.

    Training on after that only spends time; a sweep records the error and goes on.
    """

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor) and not torch.isfinite(loss).all():
            model = getattr(pl_module, "model", pl_module)
            where = first_non_finite(model, batch)
            raise NonFiniteLossError(
                f"the training loss is {loss.item()} at step {trainer.global_step} (epoch {trainer.current_epoch}); "
                + (f"first non-finite output: {where}" if where else "every layer's output is finite on a rerun")
            )


__all__ = ["FiniteLoss", "NonFiniteLossError", "first_non_finite"]
