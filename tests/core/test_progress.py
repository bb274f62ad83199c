"""Progress in a log: plain lines, at most one per interval and one when a task completes."""

from __future__ import annotations

import io

from rich.console import Console

from bnnbench.core.progress import LineProgress, progress


def test_progress_in_a_log_prints_plain_lines():
    out = io.StringIO()
    console = Console(file=out, width=200)
    assert not console.is_terminal
    shown = progress(console=console)
    assert isinstance(shown, LineProgress)
    task = shown.add_task("hessian", total=3)
    shown.advance(task)  # within the interval: nothing
    shown.advance(task, 2)  # complete: a line
    shown.every_s = 0.0
    other = shown.add_task("scan")
    shown.advance(other)
    lines = out.getvalue().splitlines()
    assert lines[0] == "hessian: started (3 steps)"
    assert lines[1].startswith("hessian: 3/3 after ") and lines[1].endswith(" s")
    assert lines[2] == "scan: started" and lines[3].startswith("scan: 1 after ")
    assert len(lines) == 4
