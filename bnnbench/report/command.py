"""`python -m bnnbench.report <sweep folder> [--table NAME] [--format md|csv|latex]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from bnnbench.report.aggregate import build_rows
from bnnbench.report.calibration import calibrate
from bnnbench.report.orderings import compare, write_csv
from bnnbench.report.paper_tables import load_table, table_for_experiment, table_names
from bnnbench.report.plots import plot_all
from bnnbench.report.render import FORMATS, cells, header, render
from bnnbench.report.wandb_upload import upload


def _first_config(sweep_dir: Path) -> dict:
    for config in sorted(sweep_dir.rglob(".hydra/config.yaml")):
        return yaml.safe_load(config.read_text()) or {}
    return {}


def main(argv: list[str] | None = None) -> int:
    """Print a (partial) sweep as its paper table, write report.<format> and PNG figures into the sweep folder."""
    parser = argparse.ArgumentParser(prog="python -m bnnbench.report", description=main.__doc__)
    parser.add_argument("sweep_dir", type=Path, help="a folder written by `python -m bnnbench --multirun`")
    parser.add_argument("--table", help=f"paper table (default: the sweep's experiment's): {', '.join(table_names())}")
    parser.add_argument("--format", default="md", choices=FORMATS)
    parser.add_argument("--paper-data", help="which of the paper's data sets goes beside ours (default: the sweep's)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    parser.add_argument("--mixed-threads", action="store_true",
                        help="average a row's seeds even when they ran at different torch thread counts")
    parser.add_argument("--wandb", choices=("auto", "on", "off"), default="auto",
                        help="upload table and figures to W&B (auto: when the sweep logged to W&B)")
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        print(f"error: sweep folder {args.sweep_dir} does not exist", file=sys.stderr)
        return 2
    config = _first_config(args.sweep_dir)
    experiment = config.get("experiment_name")
    name = args.table or (table_for_experiment(experiment) if experiment else None)
    if name is None:
        print(f"error: the sweep's experiment {experiment!r} has no paper table: give --table, one of "
              f"{', '.join(table_names())}", file=sys.stderr)
        return 2
    try:
        table = load_table(name)
        rows, dataset = build_rows(args.sweep_dir, table, args.paper_data, args.mixed_threads)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    text = render(table, rows, dataset, args.format)
    print(text)
    if table.note:
        print(f"note: {table.note}")
    print("ours: mean ± std over seeds of this sweep (proxy data and length unless the sweep ran the paper's recipe); "
          f"paper: {table.paper}, {table.source}, {dataset}; diff: ours - paper")
    if table.recipe_line():
        print(f"recipe (each row, on the proxy): {table.recipe_line()}")
    for column in table.columns:
        print(calibrate(table, rows, column.name).summary())
        orderings = compare(table, rows, column.name)
        print(orderings.summary())
        for p in orderings.pairs:
            if p.verdict == "reversed":
                print(f"  reversed: {p.a} vs {p.b} (paper {p.paper_gap:+.2f}, ours {p.ours_gap:+.2f} ± {p.se:.2f})")
        if orderings.pairs:
            write_csv(orderings, args.sweep_dir / f"report_{table.name}_orderings_{column.name}.csv")
    out = args.sweep_dir / f"report_{table.name}.{'tex' if args.format == 'latex' else args.format}"
    out.write_text(text)
    print(f"report: {out}")
    images = [] if args.no_plots else plot_all(table, rows, dataset, args.sweep_dir / "report")
    for p in images:
        print(f"figure: {p}")
    logger = config.get("logger") or {}
    if args.wandb == "on" or (args.wandb == "auto" and logger.get("name") == "wandb"):
        where = upload_report(logger, experiment or table.name, table, rows, dataset, images, args.sweep_dir)
        print(f"W&B: table and {len(images)} figures logged ({where})")
    missing = [r.label for r in rows if r.status == "missing"]
    if missing:
        print(f"missing rows (no job in the sweep): {', '.join(missing)}")
    return 0


def upload_report(logger: dict, group: str, table, rows, dataset: str, images, sweep_dir: Path) -> str:
    """Send the report to W&B (see `wandb_upload.upload`)."""
    return upload({**logger, "name": "wandb"}, group, f"{table.paper}, {table.source}", header(table, dataset, rows=rows),
                  [cells(table, r, rows=rows) for r in rows], images, sweep_dir)


if __name__ == "__main__":
    from bnnbench.core.errors import guarded

    sys.exit(guarded(main))  # an error: one line, exit 2 (--debug: the traceback)
