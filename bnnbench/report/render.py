"""A report as text: Markdown, CSV or LaTeX, one line per paper row (plus jobs no row claims)."""

from __future__ import annotations

import csv
import io
import math

from bnnbench.report.aggregate import ReportRow
from bnnbench.report.paper_tables import PaperTable
from bnnbench.run.summary import human

FORMATS = ("md", "csv", "latex")


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _digits(table: PaperTable, column: str) -> int:
    """As many decimals as the paper prints for this column (at least 2)."""
    best = 2
    for row in table.rows:
        for values in row.paper.values():
            v = values.get(column)
            if v is not None:
                text = repr(float(v)).rstrip("0")
                best = max(best, len(text.split(".")[1]) if "." in text else 0)
    return min(best, 4)


def _paper_cost(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:g}{unit}"


def _robust_column(table: PaperTable, rows: list[ReportRow]) -> tuple[str, float, int] | None:
    """(title, scale, digits) of the robustness column: the corrupted metric in the unit of the
    table's column that reports it clean; None when no row was tested under corruptions."""
    tested = [r.robust for r in rows if r.robust is not None]
    if not tested:
        return None
    metric = tested[0].metric
    for c in table.columns:
        if c.ours == metric:
            return f"{c.name} corrupted (mean)", c.scale, _digits(table, c.name)
    return f"{metric.split('/')[-1]} corrupted (mean)", 1.0, 4


def header(table: PaperTable, dataset: str, latency: bool = False, rows: list[ReportRow] | None = None) -> list[str]:
    """Column titles: per metric ours / paper / diff, then ours' and the paper's cost (and the
    measured packed latency at batch 1 with its speedup over the float model; the metric under
    corruption and mCE when the jobs were tested under corruptions), seeds, status."""
    cols = ["Method", "seeds"]
    for c in table.columns:
        cols += [f"{c.name} (ours)", f"{c.name} ({dataset})", f"{c.name} diff"]
    units = table.cost_units
    cols += ["Params (ours)", f"Params ({dataset})" if "Params" in units else "Params (paper)",
             "OPs (ours)", "OPs (paper)"]
    if latency:
        cols += ["packed ms (b1)", "x float"]
    robust = _robust_column(table, rows or [])
    if robust is not None:
        cols += [robust[0]] + ([f"mCE vs {table.robustness_reference} (%)"] if table.robustness_reference else [])
    if any(r.loss_slope is not None for r in rows or []):
        cols.append("loss fall/epoch, last 3")
    return cols + ["status"]


def cells(table: PaperTable, row: ReportRow, latency: bool = False, rows: list[ReportRow] | None = None) -> list[str]:
    """One row's cells, in `header`'s order (`rows`: the whole table, which decides its columns)."""
    out = [row.label, str(len(row.seeds))]
    for c in table.columns:
        d = _digits(table, c.name)
        mean, std = row.ours.get(c.name, (None, None))
        ours = "-" if mean is None else _num(mean, d) + ("" if std is None or math.isnan(std) else f" ± {_num(std, d)}")
        diff = row.diff(c.name)
        out += [ours, _num(row.paper.get(c.name), d), "-" if diff is None else f"{diff:+.{d}f}"]
    units = table.cost_units
    out += [human(row.cost["Params"]) if "Params" in row.cost else "-",
            _paper_cost(row.paper.get("Params"), units.get("Params", "")),
            human(row.cost["OPs"]) if "OPs" in row.cost else "-",
            _paper_cost(row.paper.get("OPs"), units.get("OPs", ""))]
    if latency:
        out += [f"{row.cost['Latency']:.3f}" if "Latency" in row.cost else "-",
                f"{row.cost['Speedup']:.2f}x" if "Speedup" in row.cost else "-"]
    robust = _robust_column(table, rows or [])
    if robust is not None:
        _, scale, d = robust
        if row.robust is None:
            out.append("-")
        else:
            mean, std = row.robust.mean
            out.append(_num(mean * scale, d) + ("" if math.isnan(std) else f" ± {_num(std * scale, d)}"))
        if table.robustness_reference:
            m = None if row.robust is None else row.robust.mce
            out.append("-" if m is None else _num(m[0], 1) + ("" if math.isnan(m[1]) else f" ± {_num(m[1], 1)}"))
    if any(r.loss_slope is not None for r in rows or []):
        out.append("-" if row.loss_slope is None else f"{100 * row.loss_slope:.1f}%")
    return out + [row.status + (f" ({row.failed} failed)" if row.failed and row.status == "partial" else "")]


def render(table: PaperTable, rows: list[ReportRow], dataset: str, fmt: str = "md") -> str:
    """The report in format `fmt` (md | csv | latex)."""
    if fmt not in FORMATS:
        raise ValueError(f"--format {fmt!r}: valid choices are {', '.join(FORMATS)}")
    latency = any("Latency" in r.cost for r in rows)
    head, body = header(table, dataset, latency, rows), [cells(table, r, latency, rows) for r in rows]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(head)
        writer.writerows(body)
        return buf.getvalue()
    title = f"{table.paper}, {table.source}: {table.caption}"
    if fmt == "md":
        lines = [f"**{title}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        return "\n".join(lines) + "\n"
    esc = str.maketrans({"&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "±": r"$\pm$"})
    lines = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{l" + "r" * (len(head) - 1) + "}", r"\toprule",
             " & ".join(h.translate(esc) for h in head) + r" \\", r"\midrule"]
    lines += [" & ".join(c.translate(esc) for c in r) + r" \\" for r in body]
    lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{title.translate(esc)}}}", r"\end{table}"]
    return "\n".join(lines) + "\n"
