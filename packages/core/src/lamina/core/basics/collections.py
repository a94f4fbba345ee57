"""`L`: a list with NumPy-like indexing and chainable functional methods.

`L(dict(a=1, b=-5, d=6, e=9).items()).itemgot(1).map(abs).filter(gt(4)).sum() == 20`
"""

from __future__ import annotations

import functools
import itertools
import operator
import random
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableSequence
from typing import Any

import numpy as np
import torch

from lamina.core.basics.functional import ListLike, is_array_like, is_listy, listify, range_of

__all__ = ["L"]

_NO_INITIAL = object()
_REPR_ITEMS = 10


def _short_repr(x: Any, limit: int = 60) -> str:
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _equal(a: Any, b: Any) -> bool:
    """Value equality that also handles tensors and arrays (same shape and all elements equal)."""
    if a is b:
        return True
    if is_array_like(a) or is_array_like(b):
        if tuple(getattr(a, "shape", ())) != tuple(getattr(b, "shape", ())):
            return False
        try:
            result = a == b
            return bool(result.all()) if is_array_like(result) else bool(result)
        except (RuntimeError, TypeError, ValueError):  # devices or dtypes that cannot be compared
            return False
    if isinstance(a, (list, tuple, L)) and isinstance(b, (list, tuple, L)):
        same_kind = type(a) is type(b) or (isinstance(a, (list, L)) and isinstance(b, (list, L)))
        return same_kind and len(a) == len(b) and all(map(_equal, a, b))
    try:
        return bool(a == b)
    except (RuntimeError, TypeError, ValueError):
        return False


def _is_bool(x: Any) -> bool:
    return isinstance(x, (bool, np.bool_))


def _bad_index(idx: Any) -> TypeError:
    return TypeError(
        "L indices must be ints, slices, lists/tuples of ints, boolean masks or 1-d integer arrays, "
        f"not {type(idx).__name__}"
    )


def _position(i: Any, n: int) -> int:
    """The non-negative position of index `i` in a collection of length `n`, checked."""
    if _is_bool(i):
        raise TypeError(f"L index {i!r} is a bool; use a boolean mask (a list of bools) to select items")
    try:
        i = operator.index(i)
    except TypeError:
        raise _bad_index(i) from None
    if not -n <= i < n:
        raise IndexError(f"L index {i} is out of range for length {n}")
    return i + n if i < 0 else i


def _mask_positions(mask: list, n: int) -> list[int]:
    if len(mask) != n:
        raise IndexError(f"L boolean mask has length {len(mask)} but the L has length {n}")
    return [i for i, keep in enumerate(mask) if keep]


def _resolve_index(idx: Any, n: int) -> int | slice | list[int]:
    """An index as a checked position, a slice, or a list of checked positions."""
    if isinstance(idx, slice):
        return idx
    if isinstance(idx, torch.Tensor):
        if idx.dtype == torch.bool:
            if idx.ndim != 1:
                raise IndexError(f"L boolean mask must be 1-d, got shape {tuple(idx.shape)}")
            return _mask_positions(idx.tolist(), n)
        if idx.dtype.is_floating_point or idx.dtype.is_complex:
            raise TypeError(f"L index tensor must hold integers or bools, got dtype {idx.dtype}")
        return _array_positions(idx, n)
    if isinstance(idx, np.ndarray):
        if idx.dtype.kind == "b":
            if idx.ndim != 1:
                raise IndexError(f"L boolean mask must be 1-d, got shape {idx.shape}")
            return _mask_positions(idx.tolist(), n)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"L index array must hold integers or bools, got dtype {idx.dtype}")
        return _array_positions(idx, n)
    if isinstance(idx, (list, tuple, range, L)):
        items = list(idx)
        bools = [_is_bool(i) for i in items]
        if items and all(bools):
            return _mask_positions(items, n)
        if any(bools):
            raise TypeError("L index list mixes bools and integers; use all bools (a mask) or all integers")
        return [_position(i, n) for i in items]
    return _position(idx, n)


def _array_positions(idx: torch.Tensor | np.ndarray, n: int) -> int | list[int]:
    if idx.ndim == 0:
        return _position(int(idx), n)
    if idx.ndim != 1:
        raise IndexError(f"L index array must be 0-d or 1-d, got shape {tuple(idx.shape)}")
    return [_position(i, n) for i in idx.tolist()]


def _spreads(value: Any) -> bool:
    """Whether an assigned value is spread over several positions (else it is repeated)."""
    return is_listy(value) or (is_array_like(value) and value.ndim > 0)


class _ClassOrInstanceMethod:
    """A method that runs `on_class` when called on the class and `on_instance` on an instance."""

    def __init__(self, on_class: Callable, on_instance: Callable):
        self.on_class, self.on_instance = on_class, on_instance
        self.__doc__ = f"On the class: {on_class.__doc__}\nOn an instance: {on_instance.__doc__}"

    def __get__(self, obj: Any, objtype: type | None = None) -> Callable:
        if obj is None:
            return types.MethodType(self.on_class, objtype)
        return types.MethodType(self.on_instance, obj)


def _split_string(cls: type, s: str, sep: str | None = None, maxsplit: int = -1) -> L:
    """`L.split(s, sep=None, maxsplit=-1)`: `str.split`, returned as an `L`."""
    if not isinstance(s, str):
        raise TypeError(f"L.split(s, ...) splits a string; got {type(s).__name__}")
    return cls(s.split(sep, maxsplit))


def _split_items(self: L, sep: Any, maxsplit: int = -1) -> L:
    """`l.split(sep, maxsplit=-1)`: cut the list at separator items, like `str.split`.

    `sep` is a value (items equal to it separate) or a callable (items for which it is true
    separate). Separators are dropped; returns an `L` of `L`s, empty runs included.
    """
    is_sep = sep if callable(sep) else (lambda x: _equal(x, sep))
    parts, current = [], []
    for x in self.items:
        if (maxsplit < 0 or len(parts) < maxsplit) and is_sep(x):
            parts.append(self._new(current))
            current = []
        else:
            current.append(x)
    parts.append(self._new(current))
    return L(parts)


class L(MutableSequence):
    """A list with NumPy-like indexing and chainable functional methods (`map`, `filter`, ...).

    `L` wraps a plain Python list (`self.items`) rather than subclassing `list`: every operation
    then returns an `L` (a `list` subclass silently returns plain lists from slicing, `*`,
    `copy()` and friends), strings stay single items everywhere (`list` iterates them), and
    indexing accepts masks and index arrays without fighting `list`'s own C methods. It is a
    registered `MutableSequence`, so code that accepts sequences accepts it.

    Construction copies its input: `L()`/`L(None)` is empty, `L(1)` is `[1]`, `L('abc')` is
    `['abc']`, an iterable gives its items (a tensor or array its rows), and several
    positional arguments give those arguments (`L(1, 2, 3)`). `use_list=True` turns the
    argument into a list with plain `list(items)` (a string then gives its characters).
    """

    __hash__ = None  # mutable

    def __init__(self, items: Any = None, *rest: Any, use_list: bool = False):
        if rest:
            items = (items, *rest)
        if use_list and items is not None:
            if not isinstance(items, Iterable):
                raise TypeError(f"L(..., use_list=True) needs an iterable, got {type(items).__name__}")
            self.items = list(items)
        else:
            self.items = listify(items)

    def _new(self, items: Iterable) -> L:
        """A new collection of this type holding `items` (subclasses may override)."""
        return type(self)(items, use_list=True)

    # --- sequence protocol --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator:
        return iter(self.items)

    def __reversed__(self) -> Iterator:
        return reversed(self.items)

    def __getitem__(self, idx: Any) -> Any:
        items = self.items
        if type(idx) is int:
            try:
                return items[idx]
            except IndexError:
                raise IndexError(f"L index {idx} is out of range for length {len(items)}") from None
        where = _resolve_index(idx, len(items))
        if isinstance(where, int):
            return items[where]
        if isinstance(where, slice):
            return self._new(items[where])
        return self._new([items[i] for i in where])

    def __setitem__(self, idx: Any, value: Any) -> None:
        """Set one item, a slice or several positions; a listy value is spread, anything else repeated."""
        items = self.items
        where = _resolve_index(idx, len(items))
        if isinstance(where, int):
            items[where] = value
            return
        if isinstance(where, slice) and _spreads(value):
            values = listify(value)
            if where.step not in (None, 1):
                count = len(range(*where.indices(len(items))))
                if len(values) != count:
                    raise ValueError(f"L: cannot assign {len(values)} values to a slice of {count} positions")
            items[where] = values
            return
        positions = range(*where.indices(len(items))) if isinstance(where, slice) else where
        if not _spreads(value):
            for i in positions:
                items[i] = value
            return
        values = listify(value)
        if len(values) != len(positions):
            raise ValueError(f"L: cannot assign {len(values)} values to {len(positions)} positions")
        for i, v in zip(positions, values):
            items[i] = v

    def __delitem__(self, idx: Any) -> None:
        where = _resolve_index(idx, len(self.items))
        if isinstance(where, (int, slice)):
            del self.items[where]
        else:
            dropped = set(where)
            self.items[:] = [x for i, x in enumerate(self.items) if i not in dropped]

    def __contains__(self, value: Any) -> bool:
        if not is_array_like(value):
            try:
                return value in self.items
            except (RuntimeError, TypeError, ValueError):  # an item is a tensor/array with no single truth
                pass
        return any(_equal(x, value) for x in self.items)

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        """The position of the first item equal to `value` (from `start`, before `stop`)."""
        stop = len(self.items) if stop is None else stop
        for i in range(*slice(start, stop).indices(len(self.items))):
            if _equal(self.items[i], value):
                return i
        raise ValueError(f"L.index: {_short_repr(value)} is not in the L")

    def count(self, value: Any) -> int:
        """How many items equal `value`."""
        return sum(1 for x in self.items if _equal(x, value))

    # --- mutation -------------------------------------------------------------------------------------
    def append(self, value: Any) -> None:
        """Add `value` at the end."""
        self.items.append(value)

    def extend(self, values: Any) -> None:
        """Add the items of `values` at the end (a string or a scalar is one item, as in `L(...)`)."""
        self.items.extend(listify(values))

    def insert(self, idx: int, value: Any) -> None:
        """Insert `value` before position `idx` (as `list.insert`)."""
        self.items.insert(operator.index(idx), value)

    def pop(self, idx: int = -1) -> Any:
        """Remove and return the item at `idx` (the last by default)."""
        if not self.items:
            raise IndexError("pop from an empty L")
        return self.items.pop(_position(idx, len(self.items)))

    def remove(self, value: Any) -> None:
        """Remove the first item equal to `value`."""
        try:
            del self.items[self.index(value)]
        except ValueError:
            raise ValueError(f"L.remove: {_short_repr(value)} is not in the L") from None

    def clear(self) -> None:
        """Remove every item."""
        self.items.clear()

    def reverse(self) -> None:
        """Reverse the items in place."""
        self.items.reverse()

    def sort(self, key: Callable | str | int | None = None, reverse: bool = False) -> None:
        """Sort in place; `key` as in `sorted`."""
        self.items[:] = self.sorted(key, reverse).items

    def copy(self) -> L:
        """A shallow copy."""
        return self._new(self.items)

    def __copy__(self) -> L:
        return self.copy()

    def setattrs(self, attr: str, value: Any) -> None:
        """Set attribute `attr` to `value` on every item."""
        for x in self.items:
            setattr(x, attr, value)

    # --- operators ------------------------------------------------------------------------------------
    def __add__(self, other: Any) -> L:
        return self._new(self.items + listify(other))

    def __radd__(self, other: Any) -> L:
        return self._new(listify(other) + self.items)

    def __iadd__(self, other: Any) -> L:
        self.extend(other)
        return self

    def __mul__(self, times: int) -> L:
        return self._new(self.items * times)

    __rmul__ = __mul__

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, (L, list, tuple)):
            return NotImplemented
        return len(self.items) == len(other) and all(map(_equal, self.items, other))

    def __repr__(self) -> str:
        shown = ", ".join(repr(x) for x in self.items[:_REPR_ITEMS])
        more = ", ..." if len(self.items) > _REPR_ITEMS else ""
        return f"(#{len(self.items)}) [{shown}{more}]"

    # --- functional methods ---------------------------------------------------------------------------
    def map(self, f: Callable | Mapping | str, *args: Any, **kwargs: Any) -> L:
        """`f(item, *args, **kwargs)` for each item; a dict `f` looks items up, a str `f` formats them."""
        if isinstance(f, Mapping):
            f = f.__getitem__
        elif isinstance(f, str):
            f = f.format
        elif not callable(f):
            raise TypeError(
                f"L.map(f): f must be callable, a dict or a format string, got {type(f).__name__}"
            )
        if args or kwargs:
            return self._new([f(x, *args, **kwargs) for x in self.items])
        return self._new(list(map(f, self.items)))

    def starmap(self, f: Callable, *args: Any, **kwargs: Any) -> L:
        """`f(*item, *args, **kwargs)` for each item."""
        return self._new([f(*x, *args, **kwargs) for x in self.items])

    def map_dict(self, f: Callable | None = None) -> dict:
        """`{item: f(item)}` (`{item: item}` without `f`)."""
        return {x: (x if f is None else f(x)) for x in self.items}

    def filter(self, f: Callable | None = None, negate: bool = False) -> L:
        """The items for which `f` is true (false with `negate=True`); `f=None` tests the items themselves."""
        test = bool if f is None else f
        if not callable(test):
            raise TypeError(f"L.filter(f): f must be callable, got {type(f).__name__}")
        if negate:
            return self._new([x for x in self.items if not test(x)])
        return self._new(list(filter(test, self.items)))

    def argwhere(self, f: Callable, negate: bool = False) -> L:
        """The positions of the items for which `f` is true (false with `negate=True`)."""
        if not callable(f):
            raise TypeError(f"L.argwhere(f): f must be callable, got {type(f).__name__}")
        return L([i for i, x in enumerate(self.items) if bool(f(x)) != negate])

    def itemgot(self, *idxs: Any) -> L:
        """`item[i0][i1]...` for each item (`itemgot(0, 1)` gives `item[0][1]`)."""
        out = []
        for pos, x in enumerate(self.items):
            for i in idxs:
                try:
                    x = x[i]
                except (IndexError, KeyError, TypeError) as e:
                    raise type(e)(f"L.itemgot{idxs}: item {pos} ({_short_repr(x)}) has no index {i!r}") from e
            out.append(x)
        return self._new(out)

    def attrgot(self, name: str, default: Any = None) -> L:
        """Attribute `name` of each item (key `name` for dicts), `default` where missing."""
        return self._new(
            [
                x.get(name, default) if isinstance(x, Mapping) else getattr(x, name, default)
                for x in self.items
            ]
        )

    def sorted(self, key: Callable | str | int | None = None, reverse: bool = False) -> L:
        """A sorted copy; `key` is a callable, an attribute name (dict key for dicts) or an int index."""
        if key is None:
            keys = self.items
        else:
            get_key = _sort_key(key)
            keys = [get_key(pos, x) for pos, x in enumerate(self.items)]
        try:
            order = sorted(range(len(keys)), key=keys.__getitem__, reverse=reverse)
        except TypeError as e:
            raise TypeError(
                f"L.sorted: cannot order the {'keys' if key is not None else 'items'}: {e}"
            ) from e
        return self._new([self.items[i] for i in order])

    def unique(self) -> L:
        """The distinct items, in order of first appearance."""
        try:
            return self._new(dict.fromkeys(self.items))
        except TypeError:  # unhashable items: compare pairwise
            seen: list = []
            for x in self.items:
                if not any(_equal(x, s) for s in seen):
                    seen.append(x)
            return self._new(seen)

    def val2idx(self) -> dict:
        """`{item: position}` (the last position for repeated items)."""
        out = {}
        for i, x in enumerate(self.items):
            try:
                out[x] = i
            except TypeError as e:
                raise TypeError(f"L.val2idx: item {i} ({_short_repr(x)}) is not hashable") from e
        return out

    def reduce(self, f: Callable, initial: Any = _NO_INITIAL) -> Any:
        """`functools.reduce(f, items[, initial])`."""
        if initial is _NO_INITIAL:
            if not self.items:
                raise TypeError("L.reduce of an empty L needs an initial value")
            return functools.reduce(f, self.items)
        return functools.reduce(f, self.items, initial)

    def sum(self) -> Any:
        """The sum of the items (0 when empty)."""
        return self.reduce(operator.add, 0)

    def product(self) -> Any:
        """The product of the items (1 when empty)."""
        return self.reduce(operator.mul, 1)

    def concat(self) -> L:
        """Flatten one level: the items of each item, in order (a non-collection item counts as itself)."""
        return self._new(itertools.chain.from_iterable(listify(x) for x in self.items))

    def enumerate(self) -> L:
        """`(position, item)` pairs."""
        return L(enumerate(self.items))

    def zip(self, cycled: bool = False) -> L:
        """Transpose: tuples of the items' elements; `cycled=True` follows the first item's length,
        cycling the others."""
        if not cycled:
            return self._new(zip(*self.items))
        if not self.items:
            return self._new([])
        head, *tail = self.items
        return self._new(zip(head, *(itertools.cycle(t) for t in tail)))

    def zipwith(self, *others: Iterable, cycled: bool = False) -> L:
        """Zip this `L` with `others`."""
        return L([self, *others]).zip(cycled)

    def map_zip(self, f: Callable, *args: Any, cycled: bool = False, **kwargs: Any) -> L:
        """`f(*elements, *args, **kwargs)` over `zip(cycled)`."""
        return self.zip(cycled).starmap(f, *args, **kwargs)

    def shuffle(self, rng: random.Random | None = None) -> L:
        """A shuffled copy (using `rng`, else the `random` module's generator)."""
        out = list(self.items)
        (rng or random).shuffle(out)
        return self._new(out)

    def cycle(self) -> Iterator:
        """An endless iterator over the items (empty for an empty `L`)."""
        return itertools.cycle(self.items)

    split = _ClassOrInstanceMethod(_split_string, _split_items)

    @classmethod
    def range(cls, a: Any, b: int | None = None, step: int | None = None) -> L:
        """`L(range(a, b, step))`; a collection `a` means `range(len(a))`."""
        return cls(range_of(a, b, step))


def _sort_key(key: Callable | str | int) -> Callable[[int, Any], Any]:
    """A `(position, item) -> key` function that names the item when it lacks the key."""
    if callable(key):
        return lambda pos, x: key(x)
    if isinstance(key, str):

        def by_attribute(pos: int, x: Any) -> Any:
            if isinstance(x, Mapping):
                if key in x:
                    return x[key]
            elif hasattr(x, key):
                return getattr(x, key)
            raise AttributeError(
                f"L.sorted(key={key!r}): item {pos} ({_short_repr(x)}) has no attribute {key!r}"
            )

        return by_attribute
    if isinstance(key, int) and not isinstance(key, bool):

        def by_index(pos: int, x: Any) -> Any:
            try:
                return x[key]
            except (IndexError, KeyError, TypeError) as e:
                raise type(e)(f"L.sorted(key={key}): item {pos} ({_short_repr(x)}) has no index {key}") from e

        return by_index
    raise TypeError(
        f"L.sorted(key=...) takes a callable, an attribute name or an int index, got {type(key).__name__}"
    )


ListLike.register(L)
