"""Where the authors' code comes from at run time: a local folder, or a clone at the pinned commit.

bnnbench ships no copy of the authors' code. For each method of `pins.yaml` the repository is
read from `--repo name=path` (a checkout you made, the way to run without internet) or cloned
once with git into the cache folder (`BNNBENCH_CONFORMANCE_CACHE`, default
`~/.cache/bnnbench/conformance/<owner>+<name>@<commit>/`) and checked out at the pinned commit.
Its module is imported with the repository's folder on `sys.path`, on the CPU: `Tensor.cuda()`
and `Module.cuda()` return their object unchanged while the authors' code runs, since most of
it moves its constants to a GPU in place.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import subprocess
import sys
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

PINS_FILE = Path(__file__).with_name("pins.yaml")
CACHE = Path(os.environ.get("BNNBENCH_CONFORMANCE_CACHE", Path.home() / ".cache" / "bnnbench" / "conformance"))


class SourceUnavailable(RuntimeError):
    """The authors' code could not be found or imported (the message says why)."""


@dataclass(frozen=True)
class Pin:
    """One method's public code: repository, commit, import root and module."""

    method: str
    repo: str | None
    commit: str | None = None
    root: str = "."
    module: str | None = None
    what: str = ""
    runnable: bool = True  # false: public code this tool cannot run (another framework)
    stubs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def pins() -> dict[str, Pin]:
    """Every pinned method, in the file's order."""
    raw = yaml.safe_load(PINS_FILE.read_text()) or {}
    return {name: Pin(method=name, **entry) for name, entry in raw.items()}


def clone(pin: Pin, cache: Path = CACHE) -> Path:
    """The repository of `pin` checked out at its commit in `cache` (cloned with git once)."""
    folder = cache / f"{pin.repo.replace('/', '+')}@{pin.commit}"
    if (folder / ".bnnbench-ok").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    url = f"https://github.com/{pin.repo}.git"
    try:
        if not (folder / ".git").is_dir():
            subprocess.run(["git", "clone", "--quiet", url, str(folder)], check=True, capture_output=True, timeout=600)
        subprocess.run(["git", "-C", str(folder), "checkout", "--quiet", pin.commit], check=True,
                       capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as err:
        detail = getattr(err, "stderr", b"") or b""
        raise SourceUnavailable(
            f"{pin.method}: could not clone {url} at {pin.commit} ({detail.decode(errors='replace').strip() or err}); "
            f"without internet give a checkout with --repo {pin.method}=<folder>"
        ) from None
    (folder / ".bnnbench-ok").touch()
    return folder


def locate(pin: Pin, local: Mapping[str, str | Path], cache: Path = CACHE, download: bool = True) -> Path:
    """The folder holding `pin`'s repository: `local[method]`, else the cache (cloning if allowed)."""
    if pin.method in local:
        folder = Path(local[pin.method]).expanduser()
        if not folder.is_dir():
            raise SourceUnavailable(f"{pin.method}: --repo {pin.method}={folder} is not a folder")
        return folder
    cached = cache / f"{pin.repo.replace('/', '+')}@{pin.commit}"
    if (cached / ".bnnbench-ok").is_file():
        return cached
    if not download:
        raise SourceUnavailable(f"{pin.method}: not in the cache ({cached}) and downloads are off (--offline)")
    return clone(pin, cache)


@contextlib.contextmanager
def on_cpu() -> Iterator[None]:
    """While inside: `.cuda()` on tensors and modules returns the object itself."""
    tensor_cuda, module_cuda = torch.Tensor.cuda, nn.Module.cuda
    torch.Tensor.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]
    nn.Module.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.Tensor.cuda, nn.Module.cuda = tensor_cuda, module_cuda  # type: ignore[method-assign]


def load(pin: Pin, folder: Path) -> types.ModuleType:
    """Import `pin.module` from `folder / pin.root` (with `pin.stubs` standing in for modules the
    authors' package imports but the check does not need); the import leaves sys.path and
    sys.modules as they were, so two repositories' `modules` packages never mix."""
    root = (folder / pin.root).resolve()
    if not root.is_dir():
        raise SourceUnavailable(f"{pin.method}: {root} is not in the repository (wrong commit or folder?)")
    before = set(sys.modules)
    sys.path.insert(0, str(root))
    try:
        for name, attrs in pin.stubs.items():
            stub = types.ModuleType(name)
            # a mapping value stands for an object read by attribute (an argparse Namespace)
            stub.__dict__.update({k: _stand_in(v) for k, v in (attrs or {}).items()})
            sys.modules[name] = stub
        with on_cpu():
            return importlib.import_module(pin.module)
    except Exception as err:  # noqa: BLE001  (any import failure: the authors' code cannot run here)
        raise SourceUnavailable(f"{pin.method}: importing {pin.module} from {root} failed: {type(err).__name__}: {err}") from err
    finally:
        sys.path.remove(str(root))
        # forget the repository's own modules and the stubs (two repositories both have a
        # `modules` package); libraries they imported (scipy, ...) stay: some load once only
        for name in set(sys.modules) - before:
            if name in pin.stubs or _inside(sys.modules[name], folder.resolve()):
                del sys.modules[name]


class _Registry:
    """Stands in for a registry the authors' module registers its classes in (BasicSR's
    `ARCH_REGISTRY`): `register()` gives back what it decorates."""

    def register(self, obj: Any = None) -> Any:
        return obj if obj is not None else (lambda o: o)


def _stand_in(value: Any) -> Any:
    """A stub attribute from its pins.yaml value: a mapping is an object read by attribute (an
    argparse Namespace), "<registry>" a registry whose decorator is the identity, else the value."""
    if isinstance(value, Mapping):
        return types.SimpleNamespace(**value)
    if value == "<registry>":
        return _Registry()
    return value


def _inside(module: types.ModuleType, folder: Path) -> bool:
    """Whether `module` was loaded from a file (or is a namespace package) under `folder`."""
    paths = [getattr(module, "__file__", None), *list(getattr(module, "__path__", []) or [])]
    return any(p and Path(p).resolve().is_relative_to(folder) for p in paths)


__all__ = ["CACHE", "Pin", "SourceUnavailable", "clone", "load", "locate", "on_cpu", "pins"]
