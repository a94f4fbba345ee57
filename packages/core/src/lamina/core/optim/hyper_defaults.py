"""Default hyper-parameters declared by stats and steppers, and the hyper-parameters they need."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["declare_defaults", "defaults_of", "needed_hypers", "accepted_hypers"]


def declare_defaults(**defaults: Any) -> Callable[[Callable], Callable]:
    """Attach default hyper-parameters to a stat or stepper (read back by `defaults_of`)."""

    def _decorate(f: Callable) -> Callable:
        f.defaults = dict(defaults)
        return f

    return _decorate


def _unwrap(cb: Callable) -> Callable:
    while isinstance(cb, functools.partial):
        cb = cb.func
    return cb


def defaults_of(cb: Callable) -> dict[str, Any]:
    """The default hyper-parameters of `cb` (a function with `.defaults`, or a `functools.partial` of one)."""
    return dict(getattr(cb, "defaults", None) or getattr(_unwrap(cb), "defaults", None) or {})


def _keyword_params(cb: Callable) -> list[inspect.Parameter]:
    params = list(inspect.signature(cb).parameters.values())[1:]  # the first one is the batch
    return [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def needed_hypers(cb: Callable) -> set[str]:
    """The hyper-parameters `cb` cannot run without (keyword parameters with no default)."""
    return {p.name for p in _keyword_params(cb) if p.default is inspect.Parameter.empty}


def accepted_hypers(cb: Callable) -> set[str]:
    """Every hyper-parameter `cb` names."""
    return {p.name for p in _keyword_params(cb)}
