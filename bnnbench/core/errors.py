"""How an error reaches the user of any bnnbench command: one line, exit status 2.

Every entry point (`bnnbench`, `bnnbench.export`, `.analyze`, `.report`, `.sweep`) prints an
error as one line naming the bad value (a data set's expected layout follows in full, since the
user needs every folder name of it) and exits with status 2; the traceback is one switch away:
`--debug` on the command line, or `HYDRA_FULL_ERROR=1` / `BNNBENCH_DEBUG=1` in the environment.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

LAYOUT_MARK = "expected layout:"
DEBUG_FLAG = "--debug"
DEBUG_HINT = f"(add {DEBUG_FLAG} or set BNNBENCH_DEBUG=1 for the traceback)"


def one_line(err: BaseException) -> str:
    """An error as one line: its message (a KeyError's without quotes), or its type."""
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    if first.endswith(LAYOUT_MARK):  # the layout follows on the next lines (`layout_of`)
        return first
    return first if len(text.strip().splitlines()) <= 1 else f"{first} ..."


def layout_of(err: BaseException) -> str | None:
    """The expected folder layout a data set's error ends with (its lines after the first), if any."""
    lines = str(err).strip().splitlines()
    return "\n".join(lines[1:]) if len(lines) > 1 and lines[0].endswith(LAYOUT_MARK) else None


def debugging(argv: Sequence[str] = ()) -> bool:
    """Whether the user asked for tracebacks (`--debug`, HYDRA_FULL_ERROR=1 or BNNBENCH_DEBUG=1)."""
    env = os.environ.get("HYDRA_FULL_ERROR") == "1" or os.environ.get("BNNBENCH_DEBUG") == "1"
    return env or DEBUG_FLAG in argv


def print_error(err: BaseException, file=None) -> None:
    """Print `err` as one line (plus a data set's layout in full)."""
    file = file or sys.stderr
    print(f"error: {one_line(err)}", file=file)
    layout = layout_of(err)
    if layout is not None:
        print(layout, file=file)


def guarded(main: Callable[[list[str]], int], argv: list[str] | None = None) -> int:
    """Run `main(argv)` (argv without `--debug`); an exception becomes one line and status 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debugging(argv)
    try:
        return main([a for a in argv if a != DEBUG_FLAG])
    except Exception as err:
        if debug:
            raise
        print_error(err)
        return 2


__all__ = ["DEBUG_FLAG", "LAYOUT_MARK", "debugging", "guarded", "layout_of", "one_line", "print_error"]
