"""The house's floors: every import inside `bnnbench/` points down (or sideways on one floor) and
no two modules import each other, function-local imports included (read from the source with
`ast`, so an import hidden in a function counts like one at the top)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import bnnbench

ROOT = Path(bnnbench.__file__).parent

# floor of each part of the package; a module may import its own floor and those below
FLOORS: dict[str, int] = {
    "core": 0, "kernels": 0, "metrics": 0,
    "binarizers": 1, "data": 1,
    "blocks": 2,
    "models": 3,
    "tasks": 4,
    "run": 5, "callbacks": 5,
    "export": 6, "report": 6, "analyze": 6, "conformance": 6,
    "cli": 7, "__main__": 7, "__init__": 7,
}


def module_name(path: Path) -> str:
    """bnnbench/run/job.py -> bnnbench.run.job; a package's __init__ -> the package."""
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of bnnbench by dotted name."""
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py")) if "conf" not in p.relative_to(ROOT).parts[:1]}


@functools.cache
def parsed(path: Path) -> ast.Module:
    """The syntax tree of a source file, read once per test session (every rule below walks it)."""
    return ast.parse(path.read_text())


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The bnnbench modules `name` imports anywhere in its file (`from a import b` counts a.b
    when b is a module, else a)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                base = ".".join(parent[: len(parent) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m in known and m != name}


def part(name: str) -> str:
    """The part of the package a module belongs to: bnnbench.run.job -> run; bnnbench -> __init__."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


@functools.cache
def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(name, path, set(mods)) for name, path in mods.items()}


def test_every_part_has_a_floor():
    assert {part(m) for m in modules()} <= set(FLOORS), "a new part of the package needs its floor here"


def test_imports_point_down():
    upward = [
        f"{a} (floor {FLOORS[part(a)]}) imports {b} (floor {FLOORS[part(b)]})"
        for a, targets in graph().items()
        for b in targets
        if FLOORS[part(b)] > FLOORS[part(a)]
    ]
    assert not upward, "\n".join(upward)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_cycle_between_parts():
    parts: dict[str, set[str]] = {}
    for a, targets in graph().items():
        parts.setdefault(part(a), set()).update(part(b) for b in targets if part(b) != part(a))
    assert not _cycles(parts)


def test_no_cycle_between_modules():
    # a package's __init__ that imports its submodules (registrations) is the package's face,
    # not a module of it: edges from a submodule to its own package's __init__ are the only
    # ones left out
    edges = {
        a: {b for b in targets if not a.startswith(b + ".")}
        for a, targets in graph().items()
    }
    assert not _cycles(edges)


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _registered_names() -> dict[str, str]:
    """Every registered component name -> the file that registers it (relative to bnnbench/)."""
    import inspect

    import bnnbench.binarizers
    import bnnbench.blocks
    import bnnbench.data
    import bnnbench.models  # noqa: F401  (registrations)
    from bnnbench.core.registry import BINARIZERS, BLOCKS, DATASETS, MODELS, WEIGHT_BINARIZERS

    owners: dict[str, str] = {}
    for registry in (BINARIZERS, WEIGHT_BINARIZERS, BLOCKS, MODELS, DATASETS):
        for name in registry.names():
            source = inspect.getsourcefile(inspect.unwrap(registry.get(name)))
            owners.setdefault(name, str(Path(source).resolve().relative_to(ROOT.resolve())))
    return owners


def _names_a_component(node: ast.AST) -> bool:
    """Whether an expression reads like a component's name (`name`, `block.name`, `base_name`, `block`)."""
    ident = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return "name" in ident or ident in ("block", "binarizer", "model", "data", "task", "base", "weight")


def test_no_registry_name_compared_outside_its_file():
    # a choice is handed down as a spec; code outside a component's own file asks the component
    # (a class attribute, its registry metadata) instead of testing its name
    owners = _registered_names()
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        if rel.startswith(("conformance/", "analyze/")):  # they name the authors' methods on purpose
            continue
        for node in ast.walk(parsed(path)):
            if not isinstance(node, ast.Compare):
                continue
            sides = [node.left, *node.comparators]
            if not any(_names_a_component(s) for s in sides):  # an option value such as grad="xnor"
                continue
            for side in sides:
                literals = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
                for lit in literals:
                    if isinstance(lit, ast.Constant) and lit.value in owners and owners[lit.value] != rel:
                        found.append(f"{rel}:{node.lineno} compares with {lit.value!r} ({owners[lit.value]})")
    assert not found, "\n".join(found)


# the function-local imports of bnnbench modules that stay, each with its reason: they keep an
# optional or heavy package out of an import that does not need it
LOCAL_IMPORTS = {
    "kernels/backend.py": "the Triton kernel modules import triton (optional; GPU and interpreter only)",
    "kernels/api.py": "the Triton kernel modules import triton (optional; GPU and interpreter only)",
    "export/__main__.py": "rebuilding a run's model imports the run layer (models, tasks, Lightning)",
    "cli.py": "`python -m bnnbench list` imports every component; a job does not need the catalog",
}


def test_function_local_imports_only_where_listed():
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        for fn in ast.walk(parsed(path)):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                mod = node.module if isinstance(node, ast.ImportFrom) else (
                    node.names[0].name if isinstance(node, ast.Import) else "")
                if (mod or "").startswith("bnnbench") and rel not in LOCAL_IMPORTS:
                    found.setdefault(rel, []).append(node.lineno)
    assert not found, f"function-local imports of bnnbench modules (import at the top, or list the file with why): {found}"
