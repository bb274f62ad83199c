"""The method catalogue lists every registry entry with its docstring's first line."""

from bnnbench.core.registry import BINARIZERS, BLOCKS, WEIGHT_BINARIZERS
from bnnbench.run import catalog


def test_catalog_lists_every_registered_method_once():
    rows = catalog.catalog()
    expected = {("binarizer", n) for n in BINARIZERS.names()} | {("weight", n) for n in WEIGHT_BINARIZERS.names()}
    expected |= {("block", n) for n in BLOCKS.names()}
    assert [(k, n) for k, n, _ in rows] == sorted(expected, key=lambda kn: (list(catalog.KINDS).index(kn[0]), kn[1]))
    assert all(line and "\n" not in line for _, _, line in rows)


def test_catalog_line_is_the_docstring_first_line():
    rows = {(k, n): line for k, n, line in catalog.catalog()}
    assert rows[("binarizer", "reactnet")] == "ReActNet Eq. 1: sign(x - beta) with a learnable per-channel threshold `beta` (init 0)."
    assert rows[("weight", "meanabs_scaled")].startswith("alpha_w sign(W) with the XNOR-style gradient")
    assert {"xnor", "xnorpp", "bireal", "irnet", "recu", "dorefa", "rbnn", "siman", "reste", "insta"} <= {
        n for k, n in rows if k == "binarizer"
    }
