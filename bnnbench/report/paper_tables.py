"""The papers' tables as data: one YAML file per table under `tables/`, read and checked here.

A table is one name throughout: `tables/<name>.yaml` (the paper's numbers), the experiment
`conf/experiment/<name>.yaml` (its sweep) and its rows `conf/experiment/<name>/<row>.yaml`
(the sweep runs every row file). A file names its paper, table number and caption, the metric
columns (the paper's name, our summary key, the factor from ours to the paper's unit, whether
higher is better), the data sets its numbers are on, and one entry per row: the row's label,
its row file (`row`; null for a method this framework does not build), any further settings
that select its jobs (`match`, e.g. the binarizer of a table that sweeps binarizers over each
row), and the paper's numbers. `recipe` says how the rows train on the proxy (model, optimizer,
lr, scheduler, epochs, steps, teacher: the keys its rows share, and a row's own `recipe` for what
differs), checked against every row's composed config by the tests. `row_group` names another
table's rows folder when tables share one (BiDense's Tables 1-3 are one row set on three tasks:
`conf/experiment/bidense/`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TABLES_DIR = Path(__file__).parent / "tables"
# Sweeps recorded before each table's rows moved into conf/experiment/<table>/ name their rows by
# the group they ran with: those names, read as today's (so their reports print the same numbers).
FORMER_ROW_GROUPS = {
    **{f"{t}_rows": t for t in ("bdnet_table2", "bdnet_table3", "bdnet_table4", "bdnet_table5", "bdnet_table6",
                                "es_table1", "es_table5", "es_table6", "robustness_cls")},
    "bidiffsr_table4_rows": "es_table4", "table3": "es_table3", "table4": "bidense_table4", "bidense_rows": "bidense",
}
FORMER_EXPERIMENTS = {"bidiffsr_table4": "es_table4"}  # the experiment named after its table
RECIPE_KEYS = ("model", "optimizer", "lr", "scheduler", "epochs", "steps", "teacher")  # what a row trains by
COST_COLUMNS = ("Params", "OPs")  # our cost/params and cost/ops; a table's paper cost is in its own unit


@dataclass(frozen=True)
class Column:
    """One metric column: the paper's name, our summary key, ours x scale = the paper's unit."""

    name: str
    ours: str
    scale: float = 1.0
    higher_is_better: bool = True


@dataclass(frozen=True)
class Row:
    """One row: its label, the sweep settings that select its jobs, the paper's numbers per data set."""

    label: str
    match: dict[str, str]  # {row group: row file, further settings}; empty: not built here
    paper: dict[str, dict[str, float | None]]  # data set -> column (or Params / OPs) -> number
    row: str | None = None  # its row file of conf/experiment/<row group>/
    recipe: dict[str, Any] = field(default_factory=dict)  # how it trains on the proxy (RECIPE_KEYS)


@dataclass(frozen=True)
class PaperTable:
    """A seed paper's table: where it is from, its columns and rows."""

    name: str
    paper: str
    source: str
    caption: str
    experiment: str  # = name: the sweep that fills the table
    datasets: tuple[str, ...]
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    cost_units: dict[str, str] = field(default_factory=dict)  # e.g. {"Params": "K", "OPs": "G"}
    note: str = ""
    row_group: str = ""  # the folder of conf/experiment/ its rows are in (its name unless shared)
    robustness_reference: str | None = None  # the row mCE under corruptions is relative to (e.g. the 32-bit row)
    fp_row: str | None = None  # the 32-bit row (calibration: it must sit above every binary row)
    chance: dict[str, float] = field(default_factory=dict)  # column -> chance level on the proxy's data
    best: dict[str, float] = field(default_factory=dict)  # column -> the best possible value (default 100)

    def recipe_line(self) -> str:
        """How the built rows train on the proxy, as one line: the keys they share, then which differ."""
        recipes = [r.recipe for r in self.rows if r.recipe]
        if not recipes:
            return ""
        shared = [k for k in RECIPE_KEYS if all(r.get(k) == recipes[0].get(k) for r in recipes)]
        text = ", ".join(f"{k} {recipes[0][k] if recipes[0][k] is not None else 'none'}" for k in shared)
        differ = [k for k in RECIPE_KEYS if k not in shared]
        return text + (f"; per row: {', '.join(differ)}" if differ else "")

    def column(self, name: str) -> Column:
        """The column called `name`."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def table_names() -> list[str]:
    """The tables that have a data file."""
    return sorted(p.stem for p in TABLES_DIR.glob("*.yaml"))


def _recipe(raw: Any, where: str) -> dict[str, Any]:
    recipe = dict(raw or {})
    unknown = set(recipe) - set(RECIPE_KEYS)
    if unknown:
        raise ValueError(f"{where}: recipe keys {sorted(unknown)} are not recipe keys: valid choices are {', '.join(RECIPE_KEYS)}")
    return recipe


def _rows(raw: list[dict[str, Any]], datasets: tuple[str, ...], name: str, group: str,
          recipe: dict[str, Any]) -> tuple[Row, ...]:
    rows = []
    for r in raw:
        paper = r.get("paper") or {}
        if len(datasets) == 1 and not all(isinstance(v, dict) for v in paper.values()):
            paper = {datasets[0]: paper}
        unknown = set(paper) - set(datasets)
        if unknown:
            raise ValueError(f"table {name}: row {r['label']!r} has numbers for {sorted(unknown)}, not among {list(datasets)}")
        row = r.get("row")
        match = {str(k): str(v) for k, v in (r.get("match") or {}).items()}
        if row is not None:
            match[group] = str(row)
        elif match:
            raise ValueError(f"table {name}: row {r['label']!r} has settings to match but no row file (`row`)")
        own = _recipe(r.get("recipe"), f"table {name}: row {r['label']!r}")
        rows.append(Row(label=str(r["label"]), match=match, paper={d: dict(v) for d, v in paper.items()},
                        row=None if row is None else str(row), recipe={**recipe, **own} if row is not None else {}))
    return tuple(rows)


def load_table(name: str) -> PaperTable:
    """Read and check the table called `name` (a file of `tables/`)."""
    path = TABLES_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"no paper table {name!r}: valid choices are {', '.join(table_names())}")
    raw = yaml.safe_load(path.read_text())
    datasets = tuple(raw.get("datasets") or [raw.get("data", "paper")])
    group = str(raw.get("row_group", name))
    columns = tuple(Column(name=str(c["name"]), ours=str(c["ours"]), scale=float(c.get("scale", 1.0)),
                           higher_is_better=bool(c.get("higher_is_better", True))) for c in raw["columns"])
    table = PaperTable(
        name=name, paper=raw["paper"], source=raw["source"], caption=raw["caption"].strip(),
        experiment=name, row_group=group, datasets=datasets, columns=columns,
        rows=_rows(raw["rows"], datasets, name, group, _recipe(raw.get("recipe"), f"table {name}")),
        cost_units=dict(raw.get("cost_units") or {}),
        note=str(raw.get("note", "")).strip(),
        robustness_reference=raw.get("robustness_reference"), fp_row=raw.get("fp_row"),
        chance={str(k): float(v) for k, v in (raw.get("chance") or {}).items()},
        best={str(k): float(v) for k, v in (raw.get("best") or {}).items()},
    )
    labels = {r.label for r in table.rows}
    for key in ("robustness_reference", "fp_row"):
        value = getattr(table, key)
        if value is not None and value not in labels:
            raise ValueError(f"table {name}: {key} {value!r} is not a row: valid choices are {', '.join(labels)}")
    known = {c.name for c in columns} | set(COST_COLUMNS)
    for row in table.rows:
        for values in row.paper.values():
            if set(values) - known:
                raise ValueError(f"table {name}: row {row.label!r} has unknown columns {sorted(set(values) - known)}")
    return table


def table_for_experiment(experiment: str) -> str | None:
    """The table that experiment `experiment` fills (its own name; None if it has none)."""
    name = FORMER_EXPERIMENTS.get(experiment, experiment)
    return name if name in table_names() else None
