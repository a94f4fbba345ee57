"""Stable fingerprints of rules, tokenizers and texts: the keys of the tokenization cache.

`fingerprint(obj)` hashes what an object *does*, not where it lives in memory: a function by its module,
name, bytecode, constants, defaults, closure and the simple module-level values it reads (regexes,
strings, numbers, and the functions of its own module, followed recursively), so editing a rule
invalidates the cache; a `functools.partial` by its function and arguments; a tokenizer by its
`cache_key()`; other objects by their class and attributes. Objects it cannot describe stably (an
object whose only description is its `repr` with a memory address) raise `Unfingerprintable`.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import re
import types
from collections.abc import Iterable
from pathlib import PurePath
from typing import Any

__all__ = ["fingerprint", "texts_digest", "Unfingerprintable"]

_SIMPLE = (type(None), bool, int, float, complex, str, bytes)
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


class Unfingerprintable(TypeError):
    """An object whose behaviour cannot be identified stably (so results made with it cannot be cached)."""


def fingerprint(obj: Any) -> str:
    """A hex digest that stays the same across processes and runs for objects that behave the same."""
    h = hashlib.sha256()
    _feed(h, obj, set())
    return h.hexdigest()


def texts_digest(texts: Iterable[str]) -> str:
    """A digest of a sequence of texts (order and boundaries included)."""
    h = hashlib.sha256()
    n = 0
    for t in texts:
        b = t.encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
        n += 1
    h.update(n.to_bytes(8, "little"))
    return h.hexdigest()


def _tag(h: Any, tag: str) -> None:
    h.update(tag.encode() + b"\x00")


def _feed(h: Any, obj: Any, seen: set[int]) -> None:
    if isinstance(obj, _SIMPLE):
        _tag(h, f"{type(obj).__name__}:{obj!r}")
        return
    if id(obj) in seen:
        _tag(h, "cycle")
        return
    seen = seen | {id(obj)}
    if isinstance(obj, enum.Enum):
        _tag(h, f"enum:{type(obj).__module__}.{type(obj).__qualname__}.{obj.name}")
    elif isinstance(obj, (list, tuple)):
        _tag(h, f"{type(obj).__name__}[{len(obj)}]")
        for o in obj:
            _feed(h, o, seen)
    elif isinstance(obj, dict):
        _tag(h, f"dict[{len(obj)}]")
        for k in sorted(obj, key=repr):
            _feed(h, k, seen)
            _feed(h, obj[k], seen)
    elif isinstance(obj, (set, frozenset)):
        _tag(h, f"set[{len(obj)}]:" + ",".join(sorted(fingerprint(o) for o in obj)))
    elif isinstance(obj, PurePath):
        _tag(h, f"path:{obj}")
    elif isinstance(obj, re.Pattern):
        _tag(h, f"regex:{obj.pattern!r}:{obj.flags}")
    elif isinstance(obj, functools.partial):
        _tag(h, "partial")
        _feed(h, (obj.func, obj.args, obj.keywords), seen)
    elif isinstance(obj, types.MethodType):
        _tag(h, "method")
        _feed(h, (obj.__func__, obj.__self__), seen)
    elif isinstance(obj, types.FunctionType):
        _feed_function(h, obj, seen)
    elif isinstance(obj, (types.BuiltinFunctionType, type, types.ModuleType)):
        _tag(
            h,
            f"{type(obj).__name__}:{getattr(obj, '__module__', '')}."
            f"{getattr(obj, '__qualname__', obj.__name__)}",
        )
    elif callable(getattr(obj, "cache_key", None)):
        _tag(h, f"keyed:{type(obj).__module__}.{type(obj).__qualname__}")
        _feed(h, obj.cache_key(), seen)
    elif hasattr(obj, "__dict__") or hasattr(type(obj), "__slots__"):
        _tag(h, f"object:{type(obj).__module__}.{type(obj).__qualname__}")
        state = dict(getattr(obj, "__dict__", {}))
        for slot in getattr(type(obj), "__slots__", ()):
            if hasattr(obj, slot):
                state[slot] = getattr(obj, slot)
        _feed(h, state, seen)
    else:
        text = repr(obj)
        if _ADDRESS.search(text):
            raise Unfingerprintable(f"cannot fingerprint {text}: its description is only its memory address")
        _tag(h, f"repr:{type(obj).__qualname__}:{text}")


def _feed_code(h: Any, code: types.CodeType) -> None:
    _tag(h, f"code:{code.co_name}:{code.co_argcount}:{code.co_kwonlyargcount}")
    h.update(code.co_code)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            _feed_code(h, c)
        else:
            _tag(h, f"const:{type(c).__name__}:{c!r}")
    _tag(h, "names:" + ",".join(code.co_names))


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _global_names(c)
    return names


def _feed_function(h: Any, f: types.FunctionType, seen: set[int]) -> None:
    _tag(h, f"function:{f.__module__}.{f.__qualname__}")
    _feed_code(h, f.__code__)
    _feed(h, (f.__defaults__, f.__kwdefaults__), seen)
    for cell in f.__closure__ or ():
        try:
            _feed(h, cell.cell_contents, seen)
        except ValueError:  # an empty cell
            _tag(h, "empty-cell")
    for name in sorted(_global_names(f.__code__)):
        value = f.__globals__.get(name)
        if isinstance(value, (*_SIMPLE, re.Pattern, tuple, frozenset)):
            _tag(h, f"global:{name}")
            _feed(h, value, seen)
        elif isinstance(value, types.FunctionType) and value.__module__ == f.__module__:
            _tag(h, f"global:{name}")
            _feed(h, value, seen)
