"""Progress that shows in a terminal and in a log file alike.

rich's live progress bar draws nothing while stdout is not a terminal (a batch job's log, a
pipe), so a ten-minute analysis printed nothing at all. `progress()` gives rich's bar on a
terminal and otherwise `LineProgress`: one plain line per task at most every `every_s` seconds
and when the task completes, with the same `add_task` / `advance` / `update` calls.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import Progress


class LineProgress:
    """rich.progress.Progress's task interface, printed as occasional plain lines."""

    def __init__(self, console: Console, every_s: float = 30.0) -> None:
        self.console, self.every_s = console, every_s
        self.tasks: dict[int, dict[str, Any]] = {}

    def add_task(self, description: str, total: float | None = None, **_: Any) -> int:
        """Start a task; prints its description."""
        task_id = len(self.tasks)
        now = time.perf_counter()
        self.tasks[task_id] = {"description": description, "total": total, "done": 0.0, "start": now, "shown": now}
        self.console.print(f"{description}: started" + (f" ({total:g} steps)" if total else ""),
                           highlight=False, soft_wrap=True)
        return task_id

    def _show(self, task: dict[str, Any], force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - task["shown"] < self.every_s:
            return
        task["shown"] = now
        of = f"/{task['total']:g}" if task["total"] else ""
        self.console.print(f"{task['description']}: {task['done']:g}{of} after {now - task['start']:.0f} s",
                           highlight=False, soft_wrap=True)

    def advance(self, task_id: int, advance: float = 1.0) -> None:
        """Count `advance` steps done; a line when `every_s` passed or the task is complete."""
        task = self.tasks[task_id]
        task["done"] += advance
        self._show(task, force=bool(task["total"]) and task["done"] >= task["total"])

    def update(self, task_id: int, total: float | None = None, advance: float | None = None, **_: Any) -> None:
        """Set a task's total (and count `advance` steps)."""
        if total is not None:
            self.tasks[task_id]["total"] = total
        if advance:
            self.advance(task_id, advance)

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        return None


def progress(*columns: Any, console: Console, transient: bool = False, every_s: float = 30.0) -> Progress | LineProgress:
    """rich's progress bar on a terminal, else plain lines every `every_s` seconds (logs, pipes)."""
    if console.is_terminal:
        return Progress(*columns, console=console, transient=transient)
    return LineProgress(console, every_s)


__all__ = ["LineProgress", "progress"]
