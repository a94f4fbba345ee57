"""`Pipeline`: transforms composed in `order`, encoded forwards, decoded backwards, set up in a chain."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from lamina.core.basics.collections import L
from lamina.core.basics.functional import is_listy
from lamina.core.transform import Transform

__all__ = ["Pipeline", "as_transform"]


def as_transform(f: Any) -> Transform:
    """`f` as a Transform: an instance as is, a class instantiated, a function wrapped in `Transform(f)`."""
    if isinstance(f, Transform):
        return f
    if isinstance(f, type):
        try:
            instance = f()
        except Exception as e:
            raise TypeError(
                f"Pipeline: cannot instantiate transform class {f.__name__} with no arguments: {e}"
            ) from e
        return as_transform(instance)
    if callable(f):
        return Transform(f)
    raise TypeError(
        f"Pipeline: expected a Transform, a Transform class or a function, got {type(f).__name__}"
    )


def _transforms(funcs: Any) -> list[Transform]:
    """The transforms in `funcs`: None, one function/class/transform, a Pipeline, or a list of those."""
    if funcs is None:
        return []
    if isinstance(funcs, Pipeline):
        return list(funcs.fs)
    if not is_listy(funcs):
        funcs = [funcs]
    found: list[Transform] = []
    for i, f in enumerate(funcs):
        if isinstance(f, Pipeline):
            found.extend(f.fs)
            continue
        try:
            found.append(as_transform(f))
        except TypeError as e:
            raise TypeError(f"Pipeline: item {i} ({f!r}): {e}") from e
    return found


def _by_order(tfms: list[Transform]) -> list[Transform]:
    """Stable sort by `order` (equal orders keep the order given)."""
    try:
        return sorted(tfms, key=lambda t: t.order)
    except TypeError as e:
        orders = ", ".join(f"{t.name}: {t.order!r}" for t in tfms)
        raise TypeError(f"Pipeline: transform orders must be comparable numbers ({orders})") from e


class TransformedItems(Sequence):
    """Raw items as the given transforms produce them, computed lazily (what a step's `setups` sees)."""

    def __init__(self, source: Sequence, steps: tuple[Transform, ...], split_idx: int | None):
        self.source, self.steps, self.split_idx = source, steps, split_idx

    def _apply(self, x: Any) -> Any:
        for t in self.steps:
            x = t(x, split_idx=self.split_idx)
        return x

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return [self._apply(x) for x in self.source[i]]
        return self._apply(self.source[i])

    def __iter__(self) -> Iterator:
        return (self._apply(x) for x in self.source)

    def __repr__(self) -> str:
        steps = " -> ".join(t.name for t in self.steps)
        return f"<{len(self)} items of {type(self.source).__name__} through {steps}>"


_RAW_COLLECTIONS = (list, tuple, range, L)


class _SetupItems:
    """What each step of `Pipeline.setup` receives.

    Raw collections (exactly list, tuple, range or L; an iterator is first read into a list) are shown
    to each step as they come out of the steps before it. Any other object (a dataset, a data loader,
    an array, a DataFrame) is passed as it is: it sees earlier steps only if it applies this pipeline
    itself, which works because during `setup` the pipeline holds only the steps already set up.
    """

    def __init__(self, items: Any, split_idx: int | None):
        if items is not None and not isinstance(items, _RAW_COLLECTIONS) and _is_iterator(items):
            items = list(items)
        self.items, self.split_idx = items, split_idx
        self.mapped = type(items) in _RAW_COLLECTIONS
        self.steps: tuple[Transform, ...] = ()

    def current(self) -> Any:
        if not self.mapped or not self.steps:
            return self.items
        return TransformedItems(self.items, self.steps, self.split_idx)

    def after(self, t: Transform) -> None:
        self.steps += (t,)


def _is_iterator(x: Any) -> bool:
    return hasattr(x, "__next__") and hasattr(x, "__iter__")


class Pipeline:
    """Transforms applied in `order` (stable sort; lowest first).

    - `Pipeline(funcs)`: transforms, Transform classes (instantiated with no arguments) and plain
      functions (wrapped in `Transform`); None or `[]` gives the identity.
    - `pipe(x)` encodes through every transform, passing the pipeline's `split_idx` to each (so
      transforms restricted to another split are skipped); `pipe.decode(x)` decodes in reverse order.
    - `setup(items)` sets up each transform on the items as the transforms before it produce them.
    - `show(x)` decodes step by step until something can show itself, then shows it.
    - `fs` is the `L` of transforms; `pipe[i]` is one of them (`pipe[i:j]` a new Pipeline).
    """

    def __init__(self, funcs: Any = None, split_idx: int | None = None):
        self.split_idx = split_idx
        self.fs = funcs

    @property
    def fs(self) -> L:
        """The transforms, in order (an `L`). Assigning converts and sorts like the constructor."""
        return self._fs

    @fs.setter
    def fs(self, funcs: Any) -> None:
        self._fs = L(_by_order(_transforms(funcs)), use_list=True)

    # ---- building -------------------------------------------------------------------------------
    def add(self, tfms: Any, items: Any = None, train_setup: bool = False) -> None:
        """Add transforms and re-sort by order; each new one is set up on `items` as the steps before it
        produce them (see `setup`)."""
        new = _transforms(tfms)
        ordered = _by_order(list(self.fs) + new)
        seen = _SetupItems(items, self.split_idx)
        added = {id(t) for t in new}
        for t in ordered:
            if id(t) in added:
                t.setup(seen.current(), train_setup)
            seen.after(t)
        self._fs = L(ordered, use_list=True)

    def setup(self, items: Any = None, train_setup: bool = False) -> None:
        """Set up each transform in order; each sees `items` after the transforms before it.

        - A raw collection (exactly a list, tuple, range or `L`; an iterator is read into a list first)
          reaches the first transform as it is and each later one as a lazy `TransformedItems` view:
          the items passed through the transforms before it (with this pipeline's `split_idx`).
        - Any other object (a dataset, a data loader, an array, a DataFrame) is passed as it is. An
          object that applies this pipeline itself still shows each step the earlier steps' output,
          because while `setup` runs the pipeline holds only the transforms already set up.
        - With no items, each `setups` gets None. With `train_setup`, each gets `items.train` when the
          object has one (see `Transform.setup`).
        - If a setup fails, the pipeline keeps all its transforms and the error names the failing one.
        """
        tfms = list(self.fs)
        seen = _SetupItems(items, self.split_idx)
        self._fs = L()
        try:
            for t in tfms:
                t.setup(seen.current(), train_setup)
                self._fs.append(t)
                seen.after(t)
        finally:
            self._fs = L(tfms, use_list=True)

    # ---- running --------------------------------------------------------------------------------
    def __call__(self, x: Any) -> Any:
        split_idx = self.split_idx
        for t in self._fs.items:
            x = t(x, split_idx=split_idx)
        return x

    def decode(self, x: Any, full: bool = True) -> Any:
        """Decode through the transforms in reverse order.

        `full=False` stops as soon as the value can show itself (see `show`).
        """
        split_idx = self.split_idx
        for t in reversed(self._fs.items):
            if not full and _showable(x):
                return x
            x = t.decode(x, split_idx=split_idx)
        return x

    def show(self, x: Any, ctx: Any = None, **kwargs: Any) -> Any:
        """Show an encoded value: decode it step by step (last transform first) until it, or every
        element of it when it is a tuple, has a `show` method; then call `show(ctx=ctx, **kwargs)` on it
        (or on each element in turn, threading `ctx` through). Returns the final `ctx`.

        Raises TypeError if nothing can show itself even after full decoding.
        """
        x = self.decode(x, full=False)
        if hasattr(x, "show"):
            return x.show(ctx=ctx, **kwargs)
        parts = x if isinstance(x, tuple) else (x,)
        showable = [p for p in parts if hasattr(p, "show")]
        if not showable:
            raise TypeError(
                f"{self!r}.show: the decoded value (a {type(x).__name__}) has no `show` method; decode to a "
                "type that can show itself (e.g. a TensorImage) or show it yourself"
            )
        for p in showable:
            ctx = p.show(ctx=ctx, **kwargs)
        return ctx

    # ---- container ------------------------------------------------------------------------------
    def __getitem__(self, i: int | slice) -> Transform | Pipeline:
        if isinstance(i, slice):
            return Pipeline(list(self.fs.items[i]), split_idx=self.split_idx)
        return self.fs[i]

    def __iter__(self) -> Iterator[Transform]:
        return iter(self.fs)

    def __repr__(self) -> str:
        return "Pipeline: " + (" -> ".join(t.name for t in self.fs) or "(identity)")


def _showable(x: Any) -> bool:
    if hasattr(x, "show"):
        return True
    return isinstance(x, tuple) and not hasattr(x, "_fields") and all(hasattr(o, "show") for o in x)
