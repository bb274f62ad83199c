"""Each paper table's rows train by the recipe its table file declares (model, optimizer, lr,
scheduler, epochs, steps, teacher): every row's config is composed as the table's sweep composes it and
checked key by key, so a row that trains otherwise than its table says cannot slip in."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bnnbench.report.paper_tables import (
    RECIPE_KEYS,
    TABLES_DIR,
    PaperTable,
    Row,
    load_table,
    table_names,
)
from bnnbench.run.recipe import Recipe, teacher_config

from ..cli.conftest import make_cfg

EXPERIMENTS = Path(__file__).parents[2] / "bnnbench" / "conf" / "experiment"


def _trains(name: str) -> bool:
    """Whether the table's experiment trains (a cost table counts, mode=cost)."""
    return (yaml.safe_load((EXPERIMENTS / f"{name}.yaml").read_text()) or {}).get("mode", "train") != "cost"


TRAINED = [n for n in table_names() if _trains(n)]


def composed_recipe(table: PaperTable, row: Row) -> dict:
    """The recipe of `row` as the sweep composes it: its row file and its other match settings."""
    # a match key naming a group of experiment files (base_method) is chosen as the sweep chooses it
    extra = [f"+experiment/{k}={v}" if (EXPERIMENTS / k).is_dir() else f"{k}={v}"
             for k, v in row.match.items() if k != table.row_group]
    cfg = make_cfg(f"experiment={table.name}", f"+experiment/{table.row_group}={row.row}", *extra, tiny=False)
    trains = Recipe.of(cfg)
    return {"model": cfg.model.name, "optimizer": cfg.optimizer.name, "lr": cfg.optimizer.lr,
            "scheduler": cfg.scheduler.name, "epochs": cfg.trainer.max_epochs, "steps": len(trains.steps) or 1,
            "teacher": teacher_config(cfg).model.name if trains.teacher is not None else None}


def mismatches(table: PaperTable, rows: list[Row]) -> list[tuple]:
    """(row, key, declared, composed) for every recipe key a row composes otherwise."""
    out = []
    for row in rows:
        got = composed_recipe(table, row)
        out += [(row.label, k, row.recipe[k], got[k]) for k in RECIPE_KEYS if row.recipe[k] != got[k]]
    return out


@pytest.mark.parametrize("name", TRAINED)
def test_every_row_of_a_trained_table_declares_its_whole_recipe(name):
    table = load_table(name)
    built = [r for r in table.rows if r.row is not None]
    assert built and all(set(r.recipe) == set(RECIPE_KEYS) for r in built), \
        [(r.label, sorted(set(RECIPE_KEYS) - set(r.recipe))) for r in built]


@pytest.mark.parametrize("name", TRAINED)
def test_every_row_trains_by_the_declared_recipe(name):
    # every row of every table, composed (about 15 s for the 102 rows)
    table = load_table(name)
    assert mismatches(table, [r for r in table.rows if r.row is not None]) == []


def test_a_row_that_trains_otherwise_is_named_and_an_unknown_recipe_key_refused(tmp_path, monkeypatch):
    table = load_table("bdnet_table2")
    fp = next(r for r in table.rows if r.row == "fp")
    wrong = Row(fp.label, fp.match, fp.paper, fp.row, {**fp.recipe, "epochs": 6, "model": "reactnet_a"})
    assert sorted(m[1] for m in mismatches(table, [wrong])) == ["epochs", "model"]
    raw = yaml.safe_load((TABLES_DIR / "bdnet_table2.yaml").read_text())
    raw["recipe"]["warmup"] = 3
    (tmp_path / "bdnet_table2.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setattr("bnnbench.report.paper_tables.TABLES_DIR", tmp_path)
    with pytest.raises(ValueError, match=r"\['warmup'\] are not recipe keys: valid choices are model, optimizer"):
        load_table("bdnet_table2")
