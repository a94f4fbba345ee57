"""`Transform`: a reversible, type-dispatched step with optional setup, split gating and an order.

A transform encodes an item (`tfm(x)`) and decodes it back (`tfm.decode(x)`). Define the cases in a
subclass, one `encodes`/`decodes` per input type, each selected by the annotation of its argument:

    class Scale(Transform):
        def encodes(self, x: int): return x * 10
        def encodes(self, x: str): return x * 2      # both definitions register
        def decodes(self, x: int): return x // 10

    @Scale.encodes                                   # add a case later, from anywhere
    def encodes(self, x: float): return x * 10.0

or build one from functions: `Transform(enc=f, dec=g)`. Rules of a call:

- an input whose type has no case is returned unchanged;
- a tuple (not a namedtuple) is transformed element by element and the result has the tuple's type;
  an `ItemTransform` sees the whole tuple instead;
- `split_idx`: a transform with `split_idx=None` always runs; with `split_idx=k` it runs only when called
  with `split_idx=k` (0 = training, 1 = validation), so a plain `tfm(x)` leaves `x` alone;
- the result keeps the input's type: when a case returns a plain tensor for an input of a `TensorBase`
  subclass, it is cast back (with the input's metadata) by `retain_type`. A case annotated with a return
  type is cast to that type instead, and `-> None` turns the cast off;
- an exception raised inside a case is re-raised naming the transform, the case and the input's type,
  with the original exception as `__cause__` (see `TransformError`);
- keyword arguments of the call reach the case: `tfm(x, size=3)`. `TypeDispatch` dispatches on the
  first two positional parameters, so leave a case's extra parameters unannotated or keyword-only.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from lamina.core.dispatch import TypeDispatch
from lamina.core.tensors import retain_type

__all__ = [
    "Transform",
    "ItemTransform",
    "InplaceTransform",
    "DisplayedTransform",
    "TransformError",
]

_CASE_KINDS = ("encodes", "decodes")
_NO_CASE = object()  # plan: no case for this type, return the input
_EACH = object()  # plan: a tuple, transform each element
_RETAIN = object()  # return rule: no return annotation, keep the input's type
_TUPLE_LIKE_INPUT = object()  # return rule of an ItemTransform case on a tuple: a tuple of the input's type


class TransformError(RuntimeError):
    """Raised when a transform fails and the original exception's class cannot carry the message.

    Normally the exception raised inside a case is re-raised as a new exception of the SAME class
    (so `except ValueError` still works) whose message names the transform; this class is the
    fallback for exception classes that cannot be built from a single message.
    """


def _text(e: BaseException) -> str:
    """The message of `e` (unquoted for a KeyError that we raised ourselves)."""
    return e.args[0] if getattr(e, "_lamina_context", False) else str(e)


def _failure(e: Exception, where: str) -> Exception:
    """A new exception saying `where` the original `e` happened (raise it `from e`).

    Same class as `e` when that class can be built from the message alone, else a `TransformError`.
    """
    text = _text(e)
    message = f"{where}: {text}" if text else f"{where}: {type(e).__name__}"
    try:
        new = type(e)(message)
        carried = type(new) is type(e) and new.args == (message,)
        if carried and (message in str(new) or str(new) == repr(message)):  # KeyError quotes its message
            new._lamina_context = True
            return new
    except Exception:  # a class with a constructor of its own; fall back below
        pass
    new = TransformError(f"{where}: {type(e).__name__}: {text}")
    new._lamina_context = True
    return new


def _like(x: tuple, items: Iterable) -> tuple:
    """A tuple of `items` with the type of `x` (a plain tuple when `x`'s class cannot be built from one)."""
    if type(x) is tuple:
        return tuple(items)
    try:
        return type(x)(items)
    except TypeError:  # a tuple subclass with a constructor of its own
        return tuple(items)


def _takes_self(f: Callable) -> bool:
    """Whether `f` is a method body: its first positional parameter is an unannotated `self`."""
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        return False
    return bool(params) and params[0].name == "self" and params[0].annotation is inspect.Parameter.empty


def _return_rule(f: Callable) -> Any:
    """What a case's return annotation asks for: `_RETAIN` (none), `None` (no cast) or a class."""
    annotation = getattr(f, "__annotations__", {}).get("return", inspect.Parameter.empty)
    if annotation is inspect.Parameter.empty:
        return _RETAIN
    if isinstance(annotation, str):
        try:
            annotation = eval(annotation, getattr(f, "__globals__", {}))  # forward reference, f's module
        except Exception as e:
            raise TypeError(
                f"cannot resolve the return annotation {annotation!r} of {getattr(f, '__qualname__', f)!r} "
                f"in its module: {e}"
            ) from e
    if annotation is None or annotation is type(None) or not isinstance(annotation, type):
        return None  # `-> None`, or a union/generic: nothing to cast to
    return annotation


def _with_rule(y: Any, x: Any, rule: Any) -> Any:
    """Apply a return rule to the result `y` of a case called on `x`."""
    if rule is _TUPLE_LIKE_INPUT:  # a list, or a plain tuple for a tuple subclass, takes x's tuple type
        return _like(x, y) if isinstance(y, list) or (type(y) is tuple and type(x) is not tuple) else y
    if rule is _RETAIN:
        # only when x's type is a strict subclass of y's (e.g. a plain tensor out of a TensorImage)
        if type(y) is not type(x) and isinstance(x, type(y)):
            return retain_type(y, x)
        return y
    if rule is None or isinstance(y, rule):
        return y
    return retain_type(y, x, typ=rule)


class _Cases(TypeDispatch):
    """The `encodes` or `decodes` dispatcher of a transform.

    A `TypeDispatch` that also remembers, per input type, the plan of a call: `_NO_CASE` (return the
    input), `_EACH` (a tuple: transform each element) or `(function, takes_self, return_rule)`. `add`
    (here or on a dispatcher this one falls back on) forgets the plans. `whole_tuples` (set for an
    `ItemTransform`) dispatches tuples as one item instead of element by element. `methods=False` (the
    dispatchers of `Transform(enc=f, dec=g)`) never passes the transform as `self`.
    """

    def __init__(
        self,
        funcs: Iterable[Callable] | Callable = (),
        bases: Iterable[TypeDispatch] = (),
        kind: str = "encodes",
        whole_tuples: bool = False,
        methods: bool = True,
    ):
        self.kind, self.whole_tuples, self.methods = kind, whole_tuples, methods
        self._plans: dict[type, Any] = {}
        self._derived: weakref.WeakSet[_Cases] = weakref.WeakSet()
        super().__init__(funcs, bases)
        for b in self.bases:
            if isinstance(b, _Cases):
                b._derived.add(self)

    def add(self, f: Callable) -> None:
        super().add(f)
        self._forget()

    def __reduce__(self):
        # rebuilt from its functions: the weak references inside a dispatcher do not pickle
        functions = list(dict.fromkeys(f for row in self.funcs.values() for f in row.values()))
        return (_Cases, (functions, self.bases, self.kind, self.whole_tuples, self.methods))

    def _forget(self) -> None:
        self._plans.clear()
        for d in list(self._derived):
            d._forget()

    def plan(self, t: type) -> Any:
        """The plan of a call on an input of type `t` (computed once, then cached)."""
        tuple_like = issubclass(t, tuple) and not hasattr(t, "_fields")
        f = None if tuple_like and not self.whole_tuples else self[t]
        if f is not None:
            rule = _return_rule(f)
            if tuple_like and rule is _RETAIN:
                rule = _TUPLE_LIKE_INPUT
            found = (f, self.methods and _takes_self(f), rule)
        else:
            found = _EACH if tuple_like and not self.whole_tuples else _NO_CASE
        self._plans[t] = found
        return found

    def input_types(self) -> tuple[type, ...]:
        """The first-argument types with a case, here and in the dispatchers this one falls back on."""
        seen = dict.fromkeys(self.funcs)
        for b in self.bases:
            if isinstance(b, _Cases):
                seen.update(dict.fromkeys(b.input_types()))
        return tuple(seen)

    def describe(self) -> str:
        """One line: `int -> encodes, str -> encodes` (own cases, then inherited ones)."""
        rows = {}
        for b in reversed(self.bases):
            if isinstance(b, _Cases):
                rows.update(b._rows())
        rows.update(self._rows())
        return ", ".join(f"{t} -> {name}" for t, name in rows.items()) or "(none)"

    def _rows(self) -> dict[str, str]:
        return {
            t1.__qualname__: getattr(row.get(object) or next(iter(row.values())), "__name__", "?")
            for t1, row in self.funcs.items()
        }


class _ClassCases:
    """What `MyTransform.encodes` is on the class: decorate a function with it to add a case.

    `@MyTransform.encodes` registers the function on `MyTransform` (and so on its subclasses that do
    not handle that type themselves) and returns the function. To run a transform, call an instance.
    """

    __slots__ = ("owner", "kind")

    def __init__(self, owner: type, kind: str):
        self.owner, self.kind = owner, kind

    @property
    def dispatcher(self) -> _Cases:
        return self.owner.__dict__["_case_dispatchers"][_CASE_KINDS.index(self.kind)]

    def __call__(self, f: Callable, *rest: Any) -> Callable:
        if rest or not callable(f) or isinstance(f, Transform):
            raise TypeError(
                f"{self.owner.__name__}.{self.kind} on the class adds a case: use it as a decorator on a "
                f"function. To {self.kind[:-1]} a value, call an instance instead"
            )
        self.dispatcher.add(f)
        return f

    def __getitem__(self, key: type | tuple[type, ...]) -> Callable | None:
        return self.dispatcher[key]

    def __repr__(self) -> str:
        return f"{self.owner.__name__}.{self.kind}: {self.dispatcher.describe()}"


class _TransformNamespace(dict):
    """A class body in which repeated `def encodes`/`def decodes` all register instead of replacing."""

    def __init__(self) -> None:
        super().__init__()
        self.cases: dict[str, list[Callable]] = {kind: [] for kind in _CASE_KINDS}

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in _CASE_KINDS:
            return super().__setitem__(key, value)
        if not callable(value):
            raise TypeError(
                f"`{key}` in a Transform class body must be a function, got {type(value).__name__}"
            )
        self.cases[key].append(value)


def _inherited(bases: tuple[type, ...], kind: str) -> list[_Cases]:
    found = []
    for b in bases:
        for c in b.__mro__:
            dispatchers = c.__dict__.get("_case_dispatchers")
            if dispatchers is not None:
                found.append(dispatchers[_CASE_KINDS.index(kind)])
                break
    return found


class _TransformMeta(type):
    """Gives every Transform class its own `encodes`/`decodes` dispatchers, falling back on its bases'."""

    @classmethod
    def __prepare__(mcs, name: str, bases: tuple[type, ...], **kwargs: Any) -> _TransformNamespace:
        return _TransformNamespace()

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: _TransformNamespace, **kwargs: Any):
        body = dict(namespace)
        dispatchers = tuple(_Cases(namespace.cases[k], _inherited(bases, k), kind=k) for k in _CASE_KINDS)
        body["_case_dispatchers"] = dispatchers
        for kind, d in zip(_CASE_KINDS, dispatchers):
            body[kind] = d  # instances see a bound dispatcher: `tfm.encodes(x)` runs the case alone
        cls = super().__new__(mcs, name, bases, body, **kwargs)
        for d in dispatchers:
            d.owner, d.whole_tuples = cls, cls._whole_tuples
        return cls

    @property
    def encodes(cls) -> _ClassCases:
        """On the class: a decorator adding an `encodes` case (`@MyTransform.encodes`)."""
        return _ClassCases(cls, "encodes")

    @property
    def decodes(cls) -> _ClassCases:
        """On the class: a decorator adding a `decodes` case (`@MyTransform.decodes`)."""
        return _ClassCases(cls, "decodes")


def _function_name(f: Callable) -> str:
    return getattr(f, "__qualname__", None) or getattr(f, "__name__", None) or type(f).__name__


class Transform(metaclass=_TransformMeta):
    """A reversible step: `tfm(x)` runs the matching `encodes`, `tfm.decode(x)` the matching `decodes`.

    Attributes: `order` (pipelines sort by it, lowest first; class or instance attribute, default 0),
    `split_idx` (None: always run; k: run only when called with `split_idx=k`), `name` (the class name,
    or the function's name for `Transform(enc=f)`), `input_types` (the types with an `encodes` case,
    None when there is none), `train_setup` (None: follow `setup`'s argument; True/False: force it).
    """

    order: int = 0
    split_idx: int | None = None
    train_setup: bool | None = None
    _name: str | None = None
    _input_types: tuple[type, ...] | None = None
    _whole_tuples = False  # ItemTransform: tuples are one item

    def __init__(
        self,
        enc: Callable | None = None,
        dec: Callable | None = None,
        split_idx: int | None = None,
        order: int | None = None,
    ):
        if split_idx is not None:
            if not isinstance(split_idx, int) or isinstance(split_idx, bool):
                raise TypeError(f"Transform(split_idx=...) must be None or an int, got {split_idx!r}")
            self.split_idx = split_idx
        if order is not None:
            self.order = order
        if enc is None and dec is None:
            return
        for arg, f in (("enc", enc), ("dec", dec)):
            if f is not None and not callable(f):
                raise TypeError(f"Transform({arg}=...) must be callable, got {type(f).__name__}")
        try:
            dispatchers = (
                _Cases([enc] if enc else (), kind="encodes", whole_tuples=self._whole_tuples, methods=False),
                _Cases([dec] if dec else (), kind="decodes", whole_tuples=self._whole_tuples, methods=False),
            )
        except TypeError as e:
            raise TypeError(f"Transform(enc=..., dec=...): {e}") from e
        self._case_dispatchers = dispatchers
        self.encodes, self.decodes = dispatchers  # instance attributes: the functions take no `self`
        source = enc or dec
        self._name = _function_name(source)
        if order is None and hasattr(source, "order"):
            self.order = source.order

    # ---- identity -------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The transform's name (settable): the class name, or the function's for `Transform(enc=f)`."""
        return self._plain_name()

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    def _plain_name(self) -> str:
        return self._name or type(self).__name__

    @property
    def input_types(self) -> tuple[type, ...] | None:
        """The types that have an `encodes` case (None when there is none); settable to declare others."""
        if self._input_types is not None:
            return self._input_types
        return self._case_dispatchers[0].input_types() or None

    @input_types.setter
    def input_types(self, value: type | tuple[type, ...] | None) -> None:
        self._input_types = value if value is None or isinstance(value, tuple) else (value,)

    def __repr__(self) -> str:
        encodes, decodes = self._case_dispatchers
        return f"{self.name}:\nencodes: {encodes.describe()}\ndecodes: {decodes.describe()}"

    # ---- setup ----------------------------------------------------------------------------------
    def setups(self, items: Any) -> None:
        """Override to learn state from the items (a vocabulary, statistics). `items` may be None."""

    def setup(self, items: Any = None, train_setup: bool = False) -> None:
        """Call `setups` on `items`, or on `items.train` when `train_setup` (or `self.train_setup`) is set."""
        if self.train_setup is not None:
            train_setup = self.train_setup
        data = getattr(items, "train", items) if train_setup else items
        try:
            self.setups(data)
        except Exception as e:
            where = f"{self._plain_name()}.setups failed on items of type {type(data).__qualname__}"
            raise _failure(e, where) from e

    # ---- calling --------------------------------------------------------------------------------
    def __call__(self, x: Any, split_idx: int | None = None, **kwargs: Any) -> Any:
        """Encode `x` (see the module docstring for the rules)."""
        own = self.split_idx
        if own is not None and split_idx != own:
            return x
        # the hot path, `_run` inlined for an input whose plan is cached and runs a case
        cases = self._case_dispatchers[0]
        plan = cases._plans.get(x.__class__)
        if plan.__class__ is not tuple:  # not planned yet, no case, or a tuple to go through
            return self._run(cases, x, kwargs)
        f, takes_self, rule = plan
        try:
            y = f(self, x, **kwargs) if takes_self else f(x, **kwargs)
        except Exception as e:
            raise self._error_for(e, cases, x) from e
        if rule is _RETAIN and (y.__class__ is x.__class__ or not isinstance(x, y.__class__)):
            return y
        return _with_rule(y, x, rule)

    def decode(self, x: Any, split_idx: int | None = None, **kwargs: Any) -> Any:
        """Decode `x`: the mirror of calling, with the `decodes` cases."""
        own = self.split_idx
        if own is not None and split_idx != own:
            return x
        return self._run(self._case_dispatchers[1], x, kwargs)

    def _run(self, cases: _Cases, x: Any, kwargs: dict) -> Any:
        """Run the case for `x` (each element of a tuple), then apply the case's return rule."""
        plan = cases._plans.get(x.__class__)
        if plan is None:
            plan = cases.plan(x.__class__)
        if plan is _NO_CASE:
            return x
        if plan is _EACH:
            return _like(x, [self._run(cases, o, kwargs) for o in x])
        f, takes_self, rule = plan
        try:
            y = f(self, x, **kwargs) if takes_self else f(x, **kwargs)
        except Exception as e:
            raise self._error_for(e, cases, x) from e
        if rule is _RETAIN and (y.__class__ is x.__class__ or not isinstance(x, y.__class__)):
            return y  # the common case, decided inline
        return _with_rule(y, x, rule)

    def _error_for(self, e: Exception, cases: _Cases, x: Any) -> Exception:
        """The exception to raise (from `e`) when the case for `x` failed."""
        where = f"{self._plain_name()}.{cases.kind} failed on an input of type {type(x).__qualname__}"
        return _failure(e, where)


class ItemTransform(Transform):
    """A transform whose cases see a whole tuple (e.g. `(image, label)`) instead of each element.

    Dispatch is on the tuple's type (annotate `x: tuple`, or leave it unannotated). A list returned for
    a tuple input becomes a tuple, and a plain tuple returned for a tuple-subclass input gets that class.
    """

    _whole_tuples = True


class InplaceTransform(Transform):
    """A transform whose cases modify their input in place: calling it returns the input itself."""

    def __call__(self, x: Any, split_idx: int | None = None, **kwargs: Any) -> Any:
        super().__call__(x, split_idx=split_idx, **kwargs)
        return x

    def decode(self, x: Any, split_idx: int | None = None, **kwargs: Any) -> Any:
        super().decode(x, split_idx=split_idx, **kwargs)
        return x


class DisplayedTransform(Transform):
    """A transform whose name (and so repr) shows the attributes named by its `__init__` parameters.

    `Normalize(mean=0.5, std=0.2)` shows as `Normalize -- {'mean': 0.5, 'std': 0.2}`: each parameter
    of the subclass's `__init__` (other than Transform's own `enc`, `dec`, `split_idx`, `order`) that the
    instance has as an attribute is shown with its current value.
    """

    _not_shown: tuple[str, ...] = ("self", "enc", "dec", "split_idx", "order")
    """`__init__` parameters left out of `name` (a subclass may extend it)."""

    @property
    def name(self) -> str:
        params = inspect.signature(type(self).__init__).parameters.values()
        shown = {
            p.name: getattr(self, p.name)
            for p in params
            if p.name not in self._not_shown
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            and hasattr(self, p.name)
        }
        return f"{self._plain_name()} -- {shown}"

    @name.setter
    def name(self, value: str) -> None:
        self._name = value
