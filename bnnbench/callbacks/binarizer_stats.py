"""Logs per-binarizer statistics: the entropy of binarized activations and parameter means."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from bnnbench.binarizers import ActivationBinarizer


def binary_entropy(p_plus: Tensor) -> Tensor:
    """Entropy in bits of a +-1 variable that is +1 with probability p (BiDense Eq. 3)."""
    p = p_plus.clamp(1e-7, 1 - 1e-7)
    return -(p * torch.log2(p) + (1 - p) * torch.log2(1 - p))


class BinarizerStats(L.Callback):
    """On validation, records the fraction of +1 outputs of every activation binarizer and logs
    the mean entropy (BiDense Fig. 3) and the mean of each learnable binarizer parameter."""

    def __init__(self) -> None:
        self._hooks: list[Any] = []
        self._p_plus: dict[str, list[float]] = {}

    def _hook(self, name: str):
        def record(_m: nn.Module, _inp: Any, out: Tensor) -> None:
            self._p_plus.setdefault(name, []).append((out > 0).float().mean().item())

        return record

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._p_plus.clear()
        for name, m in pl_module.named_modules():
            if isinstance(m, ActivationBinarizer) and m.binary:
                self._hooks.append(m.register_forward_hook(self._hook(name)))

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks.clear()
        if trainer.sanity_checking or not self._p_plus:
            return
        ent = [binary_entropy(torch.tensor(sum(v) / len(v))).item() for v in self._p_plus.values()]
        pl_module.log("binarizer/entropy", sum(ent) / len(ent), sync_dist=True)
        params: dict[str, list[float]] = {}
        for m in pl_module.modules():
            if isinstance(m, ActivationBinarizer):
                for pname, p in m.named_parameters(recurse=False):
                    params.setdefault(pname, []).append(p.detach().float().mean().item())
        for pname, vals in params.items():
            pl_module.log(f"binarizer/{pname}_mean", sum(vals) / len(vals), sync_dist=True)
