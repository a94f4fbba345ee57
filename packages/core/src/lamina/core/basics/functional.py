"""Small functional helpers the whole kernel uses: comparisons, `noop`, `listify` and friends."""

from __future__ import annotations

import abc
import operator
import re
import types
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

__all__ = [
    "gt",
    "ge",
    "lt",
    "le",
    "eq",
    "ne",
    "noop",
    "noops",
    "ifnone",
    "ListLike",
    "is_listy",
    "is_array_like",
    "listify",
    "tuplify",
    "first",
    "setify",
    "range_of",
    "maybe_attr",
    "getattrs",
    "camel2snake",
    "snake2camel",
]

_MISSING = object()


class _Compare:
    """`op(x, value)` as a picklable one-argument callable (what `gt(4)` returns)."""

    __slots__ = ("name", "op", "value")

    def __init__(self, name: str, op: Callable[[Any, Any], Any], value: Any):
        self.name, self.op, self.value = name, op, value

    def __call__(self, x: Any) -> Any:
        return self.op(x, self.value)

    def __repr__(self) -> str:
        return f"{self.name}({self.value!r})"

    def __reduce__(self):
        return _Compare, (self.name, self.op, self.value)


def _comparison(name: str, op: Callable[[Any, Any], Any], symbol: str) -> Callable[..., Any]:
    def compare(a: Any, b: Any = _MISSING) -> Any:
        if b is _MISSING:
            return _Compare(name, op, a)
        return op(a, b)

    compare.__name__ = compare.__qualname__ = name
    compare.__doc__ = (
        f"`{name}(a, b)` is `a {symbol} b`; `{name}(b)` returns a function `x -> x {symbol} b` "
        f"(so `filter({name}(4))` keeps items `{symbol} 4`)."
    )
    return compare


gt = _comparison("gt", operator.gt, ">")
ge = _comparison("ge", operator.ge, ">=")
lt = _comparison("lt", operator.lt, "<")
le = _comparison("le", operator.le, "<=")
eq = _comparison("eq", operator.eq, "==")
ne = _comparison("ne", operator.ne, "!=")


def noop(x: Any = None, *args: Any, **kwargs: Any) -> Any:
    """Return `x` unchanged, ignoring any other argument."""
    return x


def noops(self: Any, x: Any = None, *args: Any, **kwargs: Any) -> Any:
    """`noop` as a method: return `x` unchanged."""
    return x


def ifnone(a: Any, b: Any) -> Any:
    """`b` if `a` is None, else `a`."""
    return b if a is None else a


class ListLike(abc.ABC):  # noqa: B024 - a marker ABC: members join by `register`
    """Collections that `is_listy` treats as lists; register a class with `ListLike.register(cls)`.

    `list`, `tuple`, `range` and generators are registered here; `L` registers itself.
    """


for _cls in (list, tuple, range, types.GeneratorType):
    ListLike.register(_cls)


def is_listy(x: Any) -> bool:
    """True for list, tuple, `L`, range and generators; False for str, bytes, tensors and arrays."""
    return isinstance(x, ListLike)


def is_array_like(x: Any) -> bool:
    """True for a `torch.Tensor` or a `numpy.ndarray`."""
    return isinstance(x, (torch.Tensor, np.ndarray))


def listify(x: Any = None) -> list:
    """Turn `x` into a new list.

    None -> `[]`; a str or bytes -> `[x]`; a tensor or array -> `[x]` when 0-d, else the list
    of its rows; any other iterable -> its items; anything else -> `[x]`.
    """
    if x is None:
        return []
    if isinstance(x, (str, bytes)):
        return [x]
    if is_array_like(x):
        return [x] if x.ndim == 0 else list(x)
    if isinstance(x, Iterable):
        return list(x)
    return [x]


def tuplify(x: Any = None) -> tuple:
    """`listify`, as a tuple."""
    return tuple(listify(x))


def first(x: Iterable, f: Callable[[Any], Any] | None = None) -> Any:
    """The first item of `x` (the first for which `f` is true, when given), or None if there is none."""
    if not isinstance(x, Iterable):
        raise TypeError(f"first(): expected an iterable, got {type(x).__name__}")
    items = iter(x) if f is None else filter(f, x)
    return next(items, None)


def setify(x: Any = None) -> set:
    """`x` as a set: a set is returned as is, anything else goes through `listify`."""
    return x if isinstance(x, set) else set(listify(x))


def range_of(a: Any, b: int | None = None, step: int | None = None) -> list[int]:
    """`list(range(len(a)))` for a collection; `list(range(a, b, step))` for integers."""
    if not isinstance(a, int) and hasattr(a, "__len__"):
        a = len(a)
    if b is None:
        return list(range(a))
    return list(range(a, b, 1 if step is None else step))


def maybe_attr(o: Any, attr: str) -> Any:
    """`o.attr` if `o` has it, else `o` itself."""
    return getattr(o, attr, o)


def getattrs(o: Any, *attrs: str, default: Any = None) -> list:
    """The list of `o`'s attributes named by `attrs`, `default` for those it lacks."""
    return [getattr(o, name, default) for name in attrs]


_WORD_THEN_CAPITAL = re.compile(r"(.)([A-Z][a-z]+)")
_LOWER_THEN_CAPITAL = re.compile(r"([a-z0-9])([A-Z])")


def camel2snake(name: str) -> str:
    """`CamelCase` -> `camel_case` (acronyms stay whole: `HTTPResponse` -> `http_response`)."""
    name = _WORD_THEN_CAPITAL.sub(r"\1_\2", name)
    return _LOWER_THEN_CAPITAL.sub(r"\1_\2", name).lower()


def snake2camel(name: str) -> str:
    """`snake_case` -> `SnakeCase` (letters after the first of each word are kept as they are)."""
    return "".join(word[:1].upper() + word[1:] for word in name.split("_"))
