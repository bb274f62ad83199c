"""How a run's config travels through the floors of the package: a profile of one job.

Runs one job in-process (default: the main job, `task=seg`, in mode=cost so that it needs no
data or training; `--train` runs a one-step smoke training instead) with `sys.setprofile`,
keeps the calls into bnnbench's own functions, and prints

- moves: calls from one bnnbench file into another (the caller read from the call's frame),
  and how many of those go UP a floor (a lower floor's code calling into a higher one: a
  callback, or a function-local import that runs back up); calls from outside bnnbench
  (Lightning calling a task's hooks, Hydra) are not moves;
- entries per file of the run layer and the CLI (how often the job comes back to them);
- how many times each parser of a choice ran (`parse_component`, `BinarizerSpec.of` on a name
  or mapping, `block_options`) and how many times the block / model check ran.

    python experiments/house/trace_floors.py            # mode=cost of the default job
    python experiments/house/trace_floors.py --train    # one smoke training step of task=seg

Floors are those of tests/core/test_import_graph.py.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import bnnbench  # noqa: E402
from tests.core.test_import_graph import FLOORS  # noqa: E402  (the floors the test enforces)

PACKAGE = Path(bnnbench.__file__).parent
COUNTED = ("parse_component", "of", "block_options", "check_block_in_model")


def floor_of(path: str) -> tuple[str, int] | None:
    """(part, floor) of a bnnbench source file, None outside the package."""
    p = Path(path)
    if PACKAGE not in p.parents:
        return None
    parts = p.relative_to(PACKAGE).parts
    part = parts[0].removesuffix(".py") if len(parts) > 1 or parts[0] != "__init__.py" else "__init__"
    return (part, FLOORS.get(part, -1)) if part in FLOORS else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", action="store_true", help="a one-step smoke training run instead of mode=cost")
    args = parser.parse_args()

    from hydra import compose, initialize_config_dir

    import bnnbench.tasks  # noqa: F401  (registrations)
    from bnnbench.core.registry import TASKS
    from bnnbench.run.execute import run
    from bnnbench.run.settings import CONFIG_PATH

    overrides = ["task=seg", "threads=1"]
    overrides += list(TASKS.get("seg").smoke_overrides) if args.train else ["mode=cost"]
    with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
        cfg = compose("config", overrides=overrides)

    calls = 0
    moves: list[tuple[str, str, bool]] = []  # (caller file, callee file, up a floor)
    counts: collections.Counter[str] = collections.Counter()
    floors: dict[str, tuple[str, int] | None] = {}

    def profile(frame, event, arg):  # noqa: ANN001
        nonlocal calls
        if event != "call":
            return
        path = frame.f_code.co_filename
        if path not in floors:
            floors[path] = floor_of(path)
        where = floors[path]
        if where is None:
            return
        calls += 1
        name = frame.f_code.co_name
        # BinarizerSpec.of given a spec hands it back: only a name or a mapping is a parse
        if name in COUNTED and not (name == "of" and type(frame.f_locals.get("value")).__name__ == "BinarizerSpec"):
            counts[f"{Path(path).stem}.{name}"] += 1
        caller = frame.f_back.f_code.co_filename if frame.f_back is not None else ""
        if caller != path:
            if caller not in floors:
                floors[caller] = floor_of(caller)
            if floors[caller] is not None:
                rel = str(Path(path).relative_to(PACKAGE))
                moves.append((str(Path(caller).relative_to(PACKAGE)), rel, where[1] > floors[caller][1]))

    import tempfile

    with tempfile.TemporaryDirectory() as out:
        sys.setprofile(profile)
        try:
            run(cfg, output_dir=out)
        finally:
            sys.setprofile(None)

    up = [(a, b) for a, b, is_up in moves if is_up]
    print(f"job: {' '.join(overrides)}")
    print(f"bnnbench calls: {calls}; moves between files: {len(moves)}; of those up a floor: {len(up)}")
    for (a, b), n in collections.Counter(up).most_common():
        print(f"  up: {a} -> {b} x{n}")
    entries = collections.Counter(b for a, b, _ in moves if b.startswith(("run/", "cli")))
    print("calls into run-layer / CLI files from another file:", dict(entries.most_common()))
    print("parsers and checks run:", dict(sorted(counts.items())))


if __name__ == "__main__":
    main()
