"""Before continuing from a checkpoint: will its LR schedule reach the new end of training?

A per-step schedule (OneCycle, linear, cosine) is built for a fixed number of steps. A
finished run continued for more epochs would step past it (torch: "Tried to step ... times"),
and a run continued for fewer would stop mid-schedule; both are refused before any work.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bnnbench.core.checkpoint import load_checkpoint

# the state-dict key holding a torch scheduler's length
LENGTH_KEYS = ("total_steps", "total_iters", "T_max")


def schedule_length(ckpt: str | Path, state: Any = None) -> tuple[int | None, int]:
    """(steps the checkpoint's LR schedule spans or None without one, epochs it had finished);
    `state`: the checkpoint already read (weights-only), so the file is not read twice."""
    state = load_checkpoint(ckpt, "ckpt_path") if state is None else state
    epochs = int(state.get("epoch", 0)) + 1
    for sched in state.get("lr_schedulers") or []:
        for key in LENGTH_KEYS:
            if isinstance(sched.get(key), int):
                return sched[key], epochs
    return None, epochs


def steps_per_epoch(batches: int, limit: Any) -> int:
    """Optimizer steps per epoch for `batches` loader batches under `limit_train_batches`."""
    if limit is None:
        return batches
    if isinstance(limit, float) and limit <= 1.0:
        return max(1, int(batches * limit))
    return min(batches, int(limit))


def check_continuation(ckpt: str | Path, cfg: Any, batches: int, state: Any = None) -> None:
    """Raise ValueError naming both lengths when the checkpoint's schedule does not fit this run."""
    saved, done = schedule_length(ckpt, state)
    if saved is None:
        return
    trainer = cfg.trainer
    per_epoch = steps_per_epoch(batches, trainer.get("limit_train_batches"))
    accumulate = int(trainer.get("accumulate_grad_batches") or 1)
    wanted = int(trainer.max_epochs) * math.ceil(per_epoch / accumulate)
    if wanted != saved:
        raise ValueError(
            f"{ckpt}: its learning-rate schedule spans {saved} steps, this run asks for {wanted} "
            f"(trainer.max_epochs={trainer.max_epochs} x {per_epoch} steps); a schedule cannot be stretched "
            f"mid-way. Keep the run's length (trainer.max_epochs={round(saved / max(per_epoch, 1))}) to finish or "
            f"re-test it, or start a new run from its weights: init_from={ckpt}"
        )


__all__ = ["check_continuation", "schedule_length", "steps_per_epoch"]
