"""BD-Net Tables 4 and 5 as sweeps (experiment=bdnet_table4 | bdnet_table5): each row composes
to its model, binarizer and block, and at the paper's CIFAR size (full width, 32 px) the rows'
OPs fall in the paper's order (BD-Net-B < ReActNet = ReActNet w/ br < full precision). Running
every row one fast step is the registry-wide sweep test's (tests/cli/test_every_config.py)."""

from __future__ import annotations

import pytest

from bnnbench.core import complexity
from bnnbench.run import job

from .conftest import make_cfg

pytestmark = pytest.mark.usefixtures("one_thread")

ROWS = ("fp", "reactnet", "reactnet_br", "bdnet_b")
MODEL = {"bdnet_table4": "shufflenet_v1", "bdnet_table5": "mobilenet_v3"}


def _row(experiment: str, row: str, *extra: str):
    return make_cfg(f"experiment={experiment}", f"+experiment/{experiment}={row}", *extra, tiny=False)


@pytest.mark.parametrize("experiment", sorted(MODEL))
def test_rows_compose_to_the_papers_settings(experiment):
    expected = {
        "fp": (MODEL[experiment], "fp", "plain", None),
        "reactnet": (MODEL[experiment], "reactnet", "reactnet", False),
        "reactnet_br": (MODEL[experiment], "reactnet", "reactnet", True),
        "bdnet_b": (f"{MODEL[experiment]}_bdnet_b", "reactnet", "auto", None),
    }
    for row in ROWS:
        cfg = _row(experiment, row)
        job.check(cfg)
        got = (cfg.model.name, cfg.binarizer.name, cfg.block.name, cfg.block.get("br"))
        assert got == expected[row], row
        assert cfg.model.get("regular_dw", False) == row.startswith("reactnet"), row
        assert cfg.data.name == "digits" and cfg.model.width_mult == 0.25  # the CPU proxy


@pytest.mark.parametrize("experiment", sorted(MODEL))
def test_rows_ops_at_cifar_size_are_in_the_papers_order(experiment):
    ops = {}
    for row in ROWS:
        cfg = _row(experiment, row, "model.width_mult=1.0")  # digits: 10 classes, 32 px
        model = job.build_model(cfg, job.describe_data(cfg))
        ops[row] = complexity.count(model, (3, 32, 32)).ops
    assert ops["bdnet_b"] < ops["reactnet"] == ops["reactnet_br"] < ops["fp"], ops
