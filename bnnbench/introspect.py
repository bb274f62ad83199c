"""Calling builders with the subset of shared keyword arguments that they accept."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any


def accepted_kwargs(fn: Callable[..., Any], **candidates: Any) -> dict[str, Any]:
    """The candidates that `fn` (a function or class) takes by name; all of them if it takes **kw."""
    target = fn.__init__ if inspect.isclass(fn) else fn
    params = inspect.signature(target).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(candidates)
    return {k: v for k, v in candidates.items() if k in params}
