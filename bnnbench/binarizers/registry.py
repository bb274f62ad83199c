"""The activation-binarizer registry (one file per method registers into it)."""

from bnnbench.registry import Registry

BINARIZERS = Registry("binarizer")
