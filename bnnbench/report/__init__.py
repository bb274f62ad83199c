"""Paper tables from sweeps: the papers' numbers (data files in `tables/`) beside ours, with
mean +- std over seeds, cost columns, PNG plots and an optional W&B upload.

    python -m bnnbench.report <sweep folder> [--table NAME] [--format md|csv|latex]
"""

from bnnbench.report.aggregate import ReportRow, build_rows
from bnnbench.report.paper_tables import PaperTable, load_table, table_names

__all__ = ["PaperTable", "ReportRow", "build_rows", "load_table", "table_names"]
