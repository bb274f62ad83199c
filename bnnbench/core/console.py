"""The one rich console every bnnbench command prints to (tables, progress lines, errors)."""

from __future__ import annotations

from rich.console import Console

console = Console()

__all__ = ["console"]
