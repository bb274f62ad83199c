"""The tables a run prints: the model's cost at start and one summary at the end."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

from bnnbench.core.complexity import Cost
from bnnbench.core.console import console


def human(value: float) -> str:
    """1234567 -> '1.235M' (K, M, G suffixes as the BNN tables use)."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3f}{unit}"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def cost_row(cost: Cost) -> dict[str, str]:
    """Params, BOPs, FLOPs, OPs as printed strings."""
    return {
        "Params": human(cost.params),
        "Params (32-bit)": human(cost.params_32bit),
        "BOPs": human(cost.bops),
        "FLOPs": human(cost.flops),
        "OPs": human(cost.ops),
    }


def print_cost(title: str, cost: Cost) -> None:
    """Print the resolved model's cost as a one-row table."""
    table = Table(title=title)
    row = cost_row(cost)
    for k in row:
        table.add_column(k, justify="right")
    table.add_row(*row.values())
    console.print(table)


def print_summary(title: str, metrics: Mapping[str, Any], cost: Cost, extra: Mapping[str, str]) -> None:
    """Print one summary table: task metrics, cost, wall time, checkpoint path."""
    table = Table(title=title, show_header=True)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for k, v in metrics.items():
        table.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    for k, v in cost_row(cost).items():
        table.add_row(k, v)
    for k, v in extra.items():
        table.add_row(k, v)
    console.print(table)
