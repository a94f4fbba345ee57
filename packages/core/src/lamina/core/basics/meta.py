"""Class and signature helpers: `delegates`, `patch`, `funcs_kwargs`."""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["delegates", "patch", "patch_to", "funcs_kwargs"]

_VAR_KW = inspect.Parameter.VAR_KEYWORD
_KW_ONLY = inspect.Parameter.KEYWORD_ONLY


def delegates(to: Callable | None = None, keep: bool = False, but: Iterable[str] = ()) -> Callable:
    """Show the keyword arguments of `to` in the decorated function's signature.

    The decorated function must take `**kwargs`; the keyword arguments of `to` that have a
    default (and that the decorated function does not already name) replace `**kwargs` in
    `inspect.signature`. With `to=None` on a class, its `__init__` delegates to the base
    class's `__init__`. `keep=True` keeps `**kwargs` in the signature; `but` names arguments
    to leave out.
    """
    but = set(but)

    def _decorate(f: Callable) -> Callable:
        if to is None:
            if not isinstance(f, type):
                raise TypeError("delegates() without `to` decorates a class, delegating __init__ to its base")
            target, source = f.__init__, f.__base__.__init__
        else:
            target, source = (f.__init__ if isinstance(f, type) else f), to
            if isinstance(source, type):
                source = source.__init__
        sig = inspect.signature(target)
        params = dict(sig.parameters)
        var_kw = next((p for p in params.values() if p.kind == _VAR_KW), None)
        if var_kw is None:
            raise TypeError(f"{getattr(target, '__qualname__', target)} must take **kwargs to delegate")
        del params[var_kw.name]
        for name, p in inspect.signature(source).parameters.items():
            if p.default is inspect.Parameter.empty or name in params or name in but:
                continue
            if p.kind in (inspect.Parameter.VAR_POSITIONAL, _VAR_KW):
                continue
            params[name] = p.replace(kind=_KW_ONLY)
        if keep:
            params[var_kw.name] = var_kw
        ordered = sorted(params.values(), key=lambda p: p.kind)
        target.__signature__ = sig.replace(parameters=ordered)
        target.__delwrap__ = source
        return f

    return _decorate


def _resolve(annotation: Any, f: Callable) -> Any:
    if isinstance(annotation, str):
        annotation = eval(annotation, f.__globals__)  # the annotation names classes in f's module
    return annotation


def _classes_of(annotation: Any) -> tuple[type, ...]:
    if isinstance(annotation, tuple):
        return tuple(c for a in annotation for c in _classes_of(a))
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(c for a in typing.get_args(annotation) for c in _classes_of(a))
    if isinstance(annotation, type):
        return (annotation,)
    raise TypeError(f"patch: cannot add a method to {annotation!r}; annotate `self` with a class")


def patch_to(cls: type | tuple[type, ...], as_prop: bool = False) -> Callable:
    """Add the decorated function to `cls` (one class or a tuple) as a method or property."""
    classes = cls if isinstance(cls, tuple) else (cls,)

    def _decorate(f: Callable) -> Callable:
        for c in classes:
            nf = types.FunctionType(f.__code__, f.__globals__, f.__name__, f.__defaults__, f.__closure__)
            functools.update_wrapper(nf, f)
            nf.__kwdefaults__ = f.__kwdefaults__
            nf.__qualname__ = f"{c.__name__}.{f.__name__}"
            setattr(c, f.__name__, property(nf) if as_prop else nf)
        return f

    return _decorate


def patch(f: Callable | None = None, *, as_prop: bool = False) -> Callable:
    """Add `f` to the class named by its first argument's annotation (`self: Cls`).

    The annotation may be a class, a tuple of classes or a union (`A | B`). Use
    `@patch(as_prop=True)` to add a read-only property.
    """
    if f is None:
        return functools.partial(patch, as_prop=as_prop)
    params = list(inspect.signature(f, eval_str=False).parameters.values())
    if not params or params[0].annotation is inspect.Parameter.empty:
        raise TypeError(f"patch: annotate the first argument of {f.__name__} with the class to patch")
    return patch_to(_classes_of(_resolve(params[0].annotation, f)), as_prop=as_prop)(f)


def funcs_kwargs(cls: type | None = None, *, as_method: bool = False) -> Any:
    """Make each method named in `cls._methods` replaceable by a constructor keyword.

    `Cls(name=func)` stores `func` on the instance in place of the method (bound to the
    instance when `as_method=True`); subclasses may override the same methods as usual.
    The keywords appear in the `__init__` signature.
    """
    if cls is None:
        return functools.partial(funcs_kwargs, as_method=as_method)
    names = tuple(getattr(cls, "_methods", ()))
    old_init = cls.__init__

    @functools.wraps(old_init)
    def __init__(self, *args, **kwargs):
        for name in names:
            func = kwargs.pop(name, None)
            if func is None:
                continue
            if not callable(func):
                raise TypeError(f"{cls.__name__}({name}=...) expects a callable, got {type(func).__name__}")
            setattr(self, name, types.MethodType(func, self) if as_method else func)
        old_init(self, *args, **kwargs)

    sig = inspect.signature(old_init)
    params = [p for p in sig.parameters.values() if p.kind != _VAR_KW]
    extra = [inspect.Parameter(n, _KW_ONLY, default=None) for n in names if n not in sig.parameters]
    var_kw = [p for p in sig.parameters.values() if p.kind == _VAR_KW]
    __init__.__signature__ = sig.replace(parameters=sorted(params + extra + var_kw, key=lambda p: p.kind))
    cls.__init__ = __init__
    return cls
