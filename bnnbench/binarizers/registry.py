"""The activation-binarizer registry (kept here so that method files import it locally)."""

from bnnbench.core.registry import BINARIZERS

__all__ = ["BINARIZERS"]
