"""timm-style registries, all in one place, and the one parser of a component choice.

Every kind of component has one registry here; each entry registers itself from its own file
(one file = one entry = one config file of the same name), so the tables below are filled by
importing the packages (`bnnbench.binarizers`, `bnnbench.blocks`, ...).
A component is named on the command line and in code the same way: a name, or a mapping
``{name: ..., **options}`` (a Hydra config group entry); `parse_component` reads both.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """An unknown registry name; the message names the valid choices and the closest one."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class Registry:
    """Maps names to classes or factory functions; `build(name, **kw)` instantiates one."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., Any]] = {}
        self._meta: dict[str, dict[str, Any]] = {}

    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        """Decorator registering a class or function under `name`, with optional metadata
        (e.g. what a model outputs) that checks can read before anything is built."""

        def deco(obj: T) -> T:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj  # type: ignore[assignment]
            self._meta[name] = dict(meta)
            return obj

        return deco

    def meta(self, name: str) -> dict[str, Any]:
        """The metadata `name` was registered with."""
        return self._meta[self.check(name)]

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def check(self, name: str) -> str:
        """Return `name` if registered, else raise naming the valid choices and the closest."""
        if name in self._entries:
            return name
        close = difflib.get_close_matches(str(name), self.names(), n=1, cutoff=0.0)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UnknownNameError(
            f"unknown {self.kind} {name!r}: valid choices are {', '.join(self.names())}{hint}"
        )

    def get(self, name: str) -> Callable[..., Any]:
        """The registered class or function."""
        return self._entries[self.check(name)]

    def build(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Instantiate the entry `name` with the given arguments."""
        return self.get(name)(*args, **kwargs)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterable[str]:
        return iter(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


def check_keys(what: str, given: Iterable[str], valid: Iterable[str]) -> None:
    """Raise one line naming the keys of `given` that `what` does not take, the valid keys and the
    closest match (a misspelled key, also one added with Hydra's `+`, must not train the defaults)."""
    valid = list(valid)
    unknown = [k for k in given if k not in valid]
    if not unknown:
        return
    close = difflib.get_close_matches(unknown[0], valid, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"{what} has no option {', '.join(map(repr, unknown))}: valid options are {', '.join(valid) or '(none)'}{hint}"
    )


def entry_options(target: Any) -> tuple[dict[str, Any], bool]:
    """(the keyword options a registry entry declares, each with its default or
    `inspect.Parameter.empty`; whether it also takes any other keyword). A class may declare its
    own (`option_defaults()`: a data module's options include the loader's, which it passes on as
    **loader, so it takes no others); otherwise they are read from its constructor's (or
    function's) signature, where **kwargs means any other keyword."""
    own = getattr(target, "option_defaults", None)
    if own is not None:
        return dict(own()), False
    fn = target.__init__ if inspect.isclass(target) else target
    params = inspect.signature(fn).parameters.values()
    declared = {p.name: p.default for p in params if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    return declared, any(p.kind is p.VAR_KEYWORD for p in params)


def parse_component(value: str | Mapping[str, Any], kind: str = "component") -> tuple[str, dict[str, Any]]:
    """(name, options) of a component given as a name or a mapping {name: ..., **options}.

    The one reader of component choices for binarizers, weight binarizers, blocks, models,
    data sets and tasks; `None` option values are kept (they mean "the component's default").
    """
    if isinstance(value, str):
        return value, {}
    if isinstance(value, Mapping):
        options = {str(k): v for k, v in dict(value).items()}
        if "name" not in options:
            raise ValueError(f"a {kind} config needs a `name`, got {options}")
        return str(options.pop("name")), options
    raise TypeError(f"a {kind} is a name or a mapping {{name: ..., **options}}, got {value!r}")


def import_submodules(package_name: str, package_path: Iterable[str]) -> None:
    """Import every module of a package so that its registrations run (one file = one entry)."""
    for info in pkgutil.iter_modules(package_path):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package_name}.{info.name}")


BINARIZERS = Registry("binarizer")
WEIGHT_BINARIZERS = Registry("weight binarizer")
BLOCKS = Registry("block")
MODELS = Registry("model")
DATASETS = Registry("data set")
TASKS = Registry("task")
