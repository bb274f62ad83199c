"""The `key=value` command lines of `python -m bnnbench.export` and `python -m bnnbench.analyze`:
one parser, and one wrapper that turns bad input into one line and exit status 2 (`--debug`:
the traceback)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from bnnbench.core.errors import guarded


class UsageError(ValueError):
    """A command line this tool cannot run (the message says why)."""


def parse_key_values(argv: Sequence[str], keys: Sequence[str], required: Sequence[str]) -> dict[str, str]:
    """key=value arguments; UsageError on an argument that is not one of `keys` or a missing `required` one."""
    args: dict[str, str] = {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or key not in keys:
            raise UsageError(f"bad argument {arg!r}")
        args[key] = value
    for key in required:
        if not args.get(key):
            raise UsageError(f"missing {key}=...")
    return args


def run_main(argv: list[str] | None, usage: str, action: Callable[[list[str]], Any]) -> int:
    """Run `action(argv)`; 0 on success, 2 on a UsageError (with the usage) or any other error (one
    line on stderr, `bnnbench.core.errors.guarded`); `--debug` (or BNNBENCH_DEBUG=1) re-raises with the traceback."""
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help", "help") for a in argv):
        print(usage)
        return 0

    def main(args: list[str]) -> int:
        try:
            action(args)
        except UsageError as err:  # a usage error also shows the usage
            print(f"error: {err}\n{usage}", file=sys.stderr)
            return 2
        return 0

    return guarded(main, argv)
