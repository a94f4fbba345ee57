"""Type dispatch on the first one or two arguments: `TypeDispatch` and `@typedispatch`.

A `TypeDispatch` holds functions keyed by the annotations of their first one or two positional
parameters and, when called, runs the one whose annotations match the types of the first one or two
arguments most specifically (by MRO of the first argument's type, then the second's). It is the
mechanism behind `Transform.encodes`/`decodes` and behind `show_batch`/`show_results`, which plugin
packages extend for their own types.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
import weakref
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["TypeDispatch", "typedispatch", "dispatcher_for"]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _types_of(annotation: Any, f: Callable, param: str) -> tuple[type, ...]:
    """The classes an annotation stands for (a class, a tuple, `A | B`, `Union`, `Optional`, `Any`)."""
    if annotation is inspect.Parameter.empty or annotation is typing.Any or annotation is None:
        return (type(None),) if annotation is None else (object,)
    if isinstance(annotation, str):
        try:
            annotation = eval(annotation, getattr(f, "__globals__", {}))  # forward reference, f's module
        except Exception as e:
            raise TypeError(
                f"TypeDispatch: cannot resolve annotation {annotation!r} of parameter `{param}` "
                f"of {getattr(f, '__qualname__', f)!r} in its module: {e}"
            ) from e
        return _types_of(annotation, f, param)
    if isinstance(annotation, tuple):
        return tuple(c for a in annotation for c in _types_of(a, f, param))
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(c for a in typing.get_args(annotation) for c in _types_of(a, f, param))
    if isinstance(annotation, type):
        return (annotation,)
    origin = typing.get_origin(annotation)  # e.g. list[int] dispatches on list
    if isinstance(origin, type):
        return (origin,)
    raise TypeError(
        f"TypeDispatch: annotation {annotation!r} of parameter `{param}` of "
        f"{getattr(f, '__qualname__', f)!r} is not a class, a tuple of classes or a union"
    )


def _signature_of(f: Callable) -> tuple[tuple[type, ...], tuple[type, ...], bool]:
    """(first types, second types, takes_self) from the first two dispatched parameters of `f`.

    A leading unannotated parameter named `self` is the receiver of a method and is not dispatched on.
    """
    try:
        params = [p for p in inspect.signature(f).parameters.values() if p.kind in _POSITIONAL]
    except (TypeError, ValueError) as e:
        raise TypeError(f"TypeDispatch: cannot read the signature of {f!r}: {e}") from e
    takes_self = bool(params) and params[0].name == "self" and params[0].annotation is inspect.Parameter.empty
    if takes_self:
        params = params[1:]
    if not params:
        raise TypeError(
            f"TypeDispatch: {getattr(f, '__qualname__', f)!r} has no positional parameter to dispatch on; "
            "give it at least one (annotated with the type it handles, or unannotated for any type)"
        )
    first = _types_of(params[0].annotation, f, params[0].name)
    second = _types_of(params[1].annotation, f, params[1].name) if len(params) > 1 else (object,)
    return first, second, takes_self


def _ordered_matches(t: type, candidates: Iterable[type]) -> list[type]:
    """The candidates that `t` is a subclass of, most specific first.

    A candidate comes before any of its base classes; unrelated candidates (e.g. two ABCs) are ordered
    by how early they appear in `t`'s MRO (an ABC ranks just after the last MRO class that is one of its
    subclasses), then by registration order.
    """
    mro = t.__mro__
    matches = [c for c in candidates if issubclass(t, c)]

    def rank(c: type) -> float:
        if c in mro:
            return float(mro.index(c))
        return max(i for i, m in enumerate(mro) if issubclass(m, c)) + 0.5

    ranks = {c: (rank(c), i) for i, c in enumerate(matches)}
    ordered: list[type] = []
    while matches:
        minimal = [c for c in matches if not any(o is not c and issubclass(o, c) for o in matches)]
        best = min(minimal, key=ranks.__getitem__)
        ordered.append(best)
        matches.remove(best)
    return ordered


class _BoundDispatch(functools.partial):
    """A `TypeDispatch` bound to an instance: `obj.method(x)` dispatches on `x` and passes `obj` as `self`.

    A `functools.partial` of the dispatcher's bound-call entry point (built in C, so binding is cheap).
    """

    __slots__ = ()

    @property
    def dispatcher(self) -> TypeDispatch:
        return self.func.__self__

    @property
    def __self__(self) -> Any:
        return self.args[0]

    @property
    def __func__(self) -> TypeDispatch:
        return self.dispatcher

    def __getitem__(self, key):
        return self.dispatcher[key]

    def __repr__(self) -> str:
        return f"<bound {self.dispatcher!r} of {self.__self__!r}>"


class TypeDispatch:
    """Call the function whose annotations best match the types of the first one or two arguments.

    - `add(f)` registers `f` under the annotations of its first one or two positional parameters (no
      annotation means `object`; a tuple, `A | B` or `Union` registers it for each type; string
      annotations are resolved in `f`'s module). A leading unannotated `self` is skipped (methods).
    - Calling dispatches on `type(args[0])` and, when a second positional argument is given, on
      `type(args[1])`; with one argument only, functions whose second parameter is annotated (not
      `object`) do not match. The most specific match by the first type's MRO wins, then the second's.
      A function with a single positional parameter matches any second argument.
    - When nothing matches, the call returns `args[0]` unchanged (so a transform leaves types it does
      not handle alone). `bases` are other dispatchers consulted when none of ours match.
    - Used as a class attribute it acts as a method: `obj.f(x)` dispatches on `x`, and functions that
      take `self` receive `obj`. Plain functions (no `self`) registered on it are called without `obj`.
    - Lookups are cached per (type, type); `add` (here or in a base) clears the cache. Registering a
      class with an ABC (`ABC.register`) after a lookup is not seen until the next `add`.
    """

    def __init__(self, funcs: Iterable[Callable] | Callable = (), bases: Iterable[TypeDispatch] = ()):
        self.funcs: dict[type, dict[type, Callable]] = {}  # first type -> second type -> function
        self._takes_self: dict[Callable, bool] = {}
        self.bases: tuple[TypeDispatch, ...] = tuple([bases] if isinstance(bases, TypeDispatch) else bases)
        for b in self.bases:
            if not isinstance(b, TypeDispatch):
                raise TypeError(
                    f"TypeDispatch(bases=...) expects TypeDispatch objects, got {type(b).__name__}"
                )
            b._dependents.add(self)
        self._cache: dict[tuple[type, type], tuple[Callable | None, bool]] = {}
        self._cache1: dict[type, tuple[Callable | None, bool]] = {}  # one-argument calls: (t, object)
        self._dependents: weakref.WeakSet[TypeDispatch] = weakref.WeakSet()
        self.name: str | None = None
        self.owner: type | None = None
        for f in [funcs] if callable(funcs) else funcs:
            self.add(f)

    # registration
    def add(self, f: Callable) -> None:
        """Register `f` under the annotations of its first one or two positional parameters."""
        func = f.__func__ if isinstance(f, staticmethod) else f
        if not callable(func):
            raise TypeError(f"TypeDispatch.add expects a function, got {type(f).__name__}")
        first, second, takes_self = _signature_of(func)
        for t1 in first:
            row = self.funcs.setdefault(t1, {})
            for t2 in second:
                row[t2] = func
        self._takes_self[func] = takes_self
        if self.name is None:
            self.name = getattr(func, "__name__", None)
        self._invalidate()

    def register(self, f: Callable) -> Callable:
        """Decorator form of `add`; returns `f` itself (like `functools.singledispatch.register`)."""
        self.add(f)
        return f

    def _invalidate(self) -> None:
        self._cache.clear()
        self._cache1.clear()
        for d in list(self._dependents):
            d._invalidate()

    # lookup
    def _lookup(self, t1: type, t2: type) -> Callable | None:
        for c1 in _ordered_matches(t1, self.funcs):
            row = self.funcs[c1]
            for c2 in _ordered_matches(t2, row):
                return row[c2]
        for b in self.bases:
            f = b[t1, t2]
            if f is not None:
                return f
        return None

    def _entry(self, t1: type, t2: type) -> tuple[Callable | None, bool]:
        """(function, takes_self) for argument types (t1, t2), cached; (None, False) when none matches."""
        key = (t1, t2)
        e = self._cache.get(key)
        if e is None:
            f = self._lookup(t1, t2)
            e = self._cache[key] = (f, f is not None and self._takes(f))
        return e

    def __getitem__(self, key: type | tuple[type, ...]) -> Callable | None:
        """The function a call with arguments of these types would run (`None` if none)."""
        key = key if isinstance(key, tuple) else (key,)
        if not 1 <= len(key) <= 2 or not all(isinstance(k, type) for k in key):
            raise TypeError(f"TypeDispatch[...] expects a type or a pair of types, got {key!r}")
        return self._entry(key[0], key[1] if len(key) > 1 else object)[0]

    def _takes(self, f: Callable) -> bool:
        found = self._takes_self.get(f)
        if found is None:  # a base's function
            found = any(b._takes(f) for b in self.bases)
        return found

    # calling (kept flat: this is on the per-item path of every Transform)
    def __call__(self, *args, **kwargs):
        n = len(args)
        if n == 1:
            e = self._cache1.get(args[0].__class__)
            if e is None:
                e = self._cache1[args[0].__class__] = self._entry(args[0].__class__, object)
        elif n:
            e = self._cache.get((args[0].__class__, args[1].__class__))
            if e is None:
                e = self._entry(args[0].__class__, args[1].__class__)
        else:
            raise TypeError(
                f"{self.name or 'TypeDispatch'}() needs at least one positional argument to dispatch on"
            )
        f = e[0]
        return args[0] if f is None else f(*args, **kwargs)

    def _call_bound(self, inst: Any, *args, **kwargs):
        n = len(args)
        if n == 1:
            e = self._cache1.get(args[0].__class__)
            if e is None:
                e = self._cache1[args[0].__class__] = self._entry(args[0].__class__, object)
        elif n:
            e = self._cache.get((args[0].__class__, args[1].__class__))
            if e is None:
                e = self._entry(args[0].__class__, args[1].__class__)
        else:
            raise TypeError(
                f"{self.name or 'TypeDispatch'}() needs at least one positional argument to dispatch on"
            )
        f, takes_self = e
        if f is None:
            return args[0]
        return f(inst, *args, **kwargs) if takes_self else f(*args, **kwargs)

    def __get__(self, inst: Any, owner: type | None = None) -> TypeDispatch | _BoundDispatch:
        if owner is not None and self.owner is None:
            self.owner = owner
        return self if inst is None else _BoundDispatch(self._call_bound, inst)

    def __set_name__(self, owner: type, name: str) -> None:
        self.owner, self.name = owner, name

    def functions(self) -> list[Callable]:
        """The registered functions (own, not the bases'), each once, in registration order."""
        return list(dict.fromkeys(f for row in self.funcs.values() for f in row.values()))

    def __reduce__(self):
        # `@typedispatch` dispatchers pickle by name (their functions are not reachable by qualname, the
        # module attribute being the dispatcher); others are rebuilt from functions and bases.
        if self.name is not None and _registry.get(self.name) is self:
            return _registered, (self.name,)
        return _rebuilt, (type(self), self.functions(), self.bases, self.name)

    def __len__(self) -> int:
        return sum(len(row) for row in self.funcs.values())

    def __repr__(self) -> str:
        def _name(t: type) -> str:
            return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"

        lines = [f"TypeDispatch {self.name or '<anonymous>'}:"]
        for t1, row in self.funcs.items():
            for t2, f in row.items():
                lines.append(f"  ({_name(t1)}, {_name(t2)}) -> {getattr(f, '__name__', repr(f))}")
        for b in self.bases:
            lines.append(f"  falls back on {b.name or '<anonymous>'} ({len(b)} signatures)")
        return "\n".join(lines)


_registry: dict[str, TypeDispatch] = {}


def typedispatch(f: Callable) -> TypeDispatch:
    """Add `f` to the process-wide dispatcher named by `f.__qualname__` and return that dispatcher.

    Every function decorated with `@typedispatch` under the same qualified name joins ONE dispatcher,
    whichever module defines it: a plugin package extends `show_batch` for its own types simply by
    defining `@typedispatch def show_batch(x: MyType, y, samples, ...)`, and every caller of
    `show_batch` sees the new implementation. Choose distinctive names for private dispatchers.
    """
    name = f.__qualname__
    dispatcher = _registry.get(name)
    if dispatcher is None:
        dispatcher = _registry[name] = TypeDispatch()
        dispatcher.name = name
    dispatcher.add(f)
    return dispatcher


def _registered(name: str) -> TypeDispatch:
    """Unpickling helper: the `@typedispatch` dispatcher `name` (its defining module must be imported)."""
    found = _registry.get(name)
    if found is None:
        raise LookupError(f"no @typedispatch dispatcher named {name!r}: import the module defining it first")
    return found


def _rebuilt(cls: type, funcs: list, bases: tuple, name: str | None) -> TypeDispatch:
    """Unpickling helper: a dispatcher rebuilt from its functions and bases."""
    d = cls(funcs, bases)
    d.name = name
    return d


def dispatcher_for(name: str) -> TypeDispatch | None:
    """The `@typedispatch` dispatcher registered under qualified name `name`, if any."""
    return _registry.get(name)
