"""Lightning callbacks that keep tasks ignorant of binarization (annealing, RNG, statistics)."""

from bnnbench.callbacks.atomic_checkpoint import AtomicCheckpointIO
from bnnbench.callbacks.binarizer_schedule import BinarizerSchedule
from bnnbench.callbacks.binarizer_stats import BinarizerStats
from bnnbench.callbacks.finite_loss import FiniteLoss, NonFiniteLossError
from bnnbench.callbacks.rng_state import RNGState

__all__ = ["AtomicCheckpointIO", "BinarizerSchedule", "BinarizerStats", "FiniteLoss", "NonFiniteLossError", "RNGState"]
