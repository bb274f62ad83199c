"""`python -m bnnbench.conformance`: bnnbench's methods side by side with their authors' code.

For every method with public code (bnnbench/conformance/pins.yaml: repository, pinned commit,
module), the authors' module is imported on the CPU and run on the same float64 input, weights,
parameters and schedule point as bnnbench's; the table gives, per quantity (output, input
gradient, weight gradient, each parameter's gradient, rewritten state), the largest difference
and MATCH / documented deviation / DIFF. Nothing of the authors' code is in bnnbench: each
repository is cloned at its commit into the cache folder on first use (needs git and internet),
or read from a checkout given with --repo NAME=FOLDER (how it runs offline). --golden FOLDER
writes each method's case and the authors' quantities there (tests/conformance/golden holds
them, and the fast suite compares bnnbench against them without the authors' code).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bnnbench.conformance.compare import Row, compare, write_golden
from bnnbench.conformance.methods import METHODS
from bnnbench.conformance.source import CACHE, SourceUnavailable, load, locate, on_cpu, pins
from bnnbench.core.console import console


def run(local: dict[str, str], only: list[str] | None, cache: Path, download: bool, golden: Path | None) -> list[Row]:
    """Every pinned method's rows (an unavailable repository gives one row saying why)."""
    rows: list[Row] = []
    for name, pin in pins().items():
        if only and name not in only:
            continue
        if pin.repo is None:
            rows.append(Row(name, "-", None, "no public code", pin.what))
            continue
        if not pin.runnable:
            where = f"{pin.repo}@{pin.commit}" if pin.commit else pin.repo
            rows.append(Row(name, "-", None, "not runnable here", f"{where}: {pin.what}"))
            continue
        try:
            module = load(pin, locate(pin, local, cache, download))
        except SourceUnavailable as err:
            rows.append(Row(name, "-", None, "unavailable", str(err)))
            continue
        case = METHODS[name].case()
        with on_cpu():
            theirs = METHODS[name].theirs(module, case)
        rows += compare(name, METHODS[name].ours(case), theirs)
        if golden is not None:
            write_golden(golden, name, case, theirs, f"{pin.repo}@{pin.commit}")
    return rows


def print_rows(rows: list[Row]) -> None:
    """The table: method, quantity, max |difference|, status, note."""
    from rich.table import Table


    table = Table(title="bnnbench vs the authors' code (float64, CPU)")
    for col in ("method", "quantity", "max |diff|", "status", "note"):
        table.add_column(col, overflow="fold")
    for r in rows:
        style = {"MATCH": "green", "DIFF": "bold red"}.get(r.status, "yellow")
        table.add_row(r.method, r.quantity, "-" if r.max_diff is None else f"{r.max_diff:.1e}",
                      f"[{style}]{r.status}[/{style}]", r.note)
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    """Print the conformance table; exit 1 on any DIFF."""
    parser = argparse.ArgumentParser(prog="python -m bnnbench.conformance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", action="append", default=[], metavar="NAME=FOLDER",
                        help="a local checkout of method NAME's repository at its pinned commit (repeatable)")
    parser.add_argument("--only", action="append", metavar="NAME", help=f"check only these methods: {', '.join(pins())}")
    parser.add_argument("--cache", type=Path, default=CACHE, help=f"where clones are kept (default {CACHE})")
    parser.add_argument("--offline", action="store_true", help="never clone: use --repo folders and the cache only")
    parser.add_argument("--golden", type=Path, help="write each method's case and the authors' quantities here")
    args = parser.parse_args(argv)
    local = {}
    for item in args.repo:
        name, sep, folder = item.partition("=")
        if not sep or name not in pins():
            parser.error(f"--repo {item!r}: give NAME=FOLDER with NAME one of {', '.join(pins())}")
        local[name] = folder
    unknown = [m for m in args.only or [] if m not in pins()]
    if unknown:
        parser.error(f"--only {unknown[0]!r} is not a pinned method: valid choices are {', '.join(pins())}")
    rows = run(local, args.only, args.cache, not args.offline, args.golden)
    print_rows(rows)
    return 1 if any(r.status == "DIFF" for r in rows) else 0


if __name__ == "__main__":
    from bnnbench.core.errors import guarded

    sys.exit(guarded(main))
