"""The command line of `python -m bnnbench.analyze`: parse, check everything, then run the analyses."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from bnnbench.analyze import ANALYSES
from bnnbench.analyze.context import SPLITS, Options, load_context
from bnnbench.core.keyvalue import UsageError, parse_key_values, run_main
from bnnbench.core.progress import progress
from bnnbench.run.settings import set_threads

USAGE = (
    "usage: python -m bnnbench.analyze ckpt=<run>/checkpoints/<name>.ckpt what=<names|all> "
    "[out=<folder>] [config=<run>/.hydra/config.yaml] [split=train|val|test] [batches=4|all] [top_k=10] [tol=1e-3] "
    "[resolution=11] [span=1.0] [seed=0] [tau=<int>] [device=cpu|cuda|auto] [threads=auto|<int>]\n"
    f"  what: one or more of {', '.join(ANALYSES)} separated by commas (what=entropy,hessian), or all"
)
KEYS = ("ckpt", "what", "out", "config", "split", "batches", "top_k", "tol", "resolution", "span", "seed", "tau", "device", "threads")
DEVICES = ("cpu", "cuda", "auto")


def parse(argv: list[str]) -> dict[str, str]:
    """key=value arguments; UsageError on an unknown key or a missing ckpt/what."""
    return parse_key_values(argv, KEYS, ("ckpt", "what"))


def analyses(what: str) -> list[str]:
    """The analysis names of `what=` (comma separated, brackets allowed, `all`), in the given order."""
    names = [n.strip() for n in what.strip("[]").split(",") if n.strip()]
    if names == ["all"]:
        return list(ANALYSES)
    bad = [n for n in names if n not in ANALYSES]
    if bad or not names:
        raise UsageError(f"what={what!r}: unknown analysis {', '.join(map(repr, bad)) or '(none)'}; "
                         f"valid choices are {', '.join(ANALYSES)} or all")
    return list(dict.fromkeys(names))


def _number(args: dict[str, str], key: str, kind: type, default: Any, minimum: float | None = None) -> Any:
    if key not in args:
        return default
    try:
        value = kind(args[key])
    except ValueError:
        raise UsageError(f"{key}={args[key]!r} is not a valid {kind.__name__}") from None
    if minimum is not None and value < minimum:
        raise UsageError(f"{key}={args[key]} must be >= {minimum}")
    return value


def options(args: dict[str, str], ckpt: Path) -> Options:
    """The analyses' options from the arguments; every value checked here, before any work."""
    split = args.get("split") or None
    if split is not None and split not in SPLITS:
        raise UsageError(f"split={split!r} is not valid; choose one of {', '.join(SPLITS)}")
    resolution = _number(args, "resolution", int, 11, 3)
    if resolution % 2 == 0:
        raise UsageError(f"resolution={resolution} must be odd (its middle point is the checkpoint)")
    out = Path(args["out"]).expanduser() if args.get("out") else ckpt.resolve().parent.parent / "analysis"
    return Options(out=out, split=split, batches=None if args.get("batches") == "all" else _number(args, "batches", int, 4, 1), top_k=_number(args, "top_k", int, 10, 1),
                   tol=_number(args, "tol", float, 1e-3, 0.0), resolution=resolution,
                   span=_number(args, "span", float, 1.0, 0.0), seed=_number(args, "seed", int, 0),
                   tau=_number(args, "tau", int, None, 1))


def device(name: str) -> str:
    """The torch device of `device=`; UsageError for an unknown one or cuda without a GPU."""
    import torch

    if name not in DEVICES:
        raise UsageError(f"device={name!r} is not valid; choose one of {', '.join(DEVICES)}")
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("device=cuda but no CUDA device is available")
    return name


def analyze(args: dict[str, str]) -> dict[str, list[Path]]:
    """Check the arguments, rebuild the run, check each analysis applies, then run them all."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )


    names = analyses(args["what"])
    ckpt = Path(args["ckpt"]).expanduser()
    if not ckpt.is_file():
        raise FileNotFoundError(f"ckpt={ckpt} does not exist")
    opts = options(args, ckpt)
    dev = device(args.get("device", "cpu"))
    threads = args.get("threads", "auto")
    if threads != "auto":
        threads = _number(args, "threads", int, None, 1)
    modules = {n: importlib.import_module(f"bnnbench.analyze.{n}") for n in names}
    ctx = load_context(ckpt, args.get("config"), dev)
    for mod in modules.values():
        mod.check(ctx)
    set_threads(threads)  # as a run does: torch's default counts cores that may not be ours
    console = Console(stderr=True)
    console.print(f"analysis of {ckpt} -> {opts.out}")
    written: dict[str, list[Path]] = {}
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # a bar on a terminal, plain lines every 30 s in a log (rich draws nothing there)
    with progress(*columns, console=console) as bar:
        for name, mod in modules.items():
            written[name] = mod.run(ctx, opts, bar)
    for name, files in written.items():
        print(f"{name}: {', '.join(str(f) for f in files)}")
    print(f"written to {opts.out}")
    return written


def main(argv: list[str] | None = None) -> int:
    """Run the command line; 0 on success, 2 on bad input (one line on stderr, before any work)."""
    return run_main(argv, USAGE, lambda a: analyze(parse(a)))


__all__ = ["KEYS", "USAGE", "UsageError", "analyses", "analyze", "main", "options", "parse"]
