"""Showing data: the `show_batch`/`show_results` type-dispatched functions, titles and display contexts.

`show_batch(x, y, samples, ctxs=None, max_n=9, **kwargs)` and `show_results(x, y, samples, outs, ...)` are
`@typedispatch` functions: a domain package adds a figure for its own types by defining, in any module,

    @typedispatch
    def show_batch(x: TensorImage, y, samples, ctxs=None, max_n=9, **kwargs): ...

`x` and `y` are the decoded input and target parts of the batch (None when absent); `samples` the decoded
items (one tuple per sample). The kernel's generic case (any types) shows each part of each sample on
`ctxs` when the caller gives contexts or a part needs a figure (its `show` is not a title); otherwise it
prints a readable table, one line per sample, and returns it (a `SampleTable`).

A context (`ctx`) is where a value shows itself: a matplotlib Axes, a row being built (a `dict` or a
pandas Series), a list of lines, or None (print). `show_title` writes a value on any of them; the
`Titled*` types are numbers, strings and tuples that show themselves as titles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from lamina.core.dispatch import typedispatch

__all__ = [
    "show_batch",
    "show_results",
    "show_title",
    "ShowTitle",
    "TitledInt",
    "TitledFloat",
    "TitledStr",
    "TitledTuple",
    "SampleTable",
    "get_grid",
    "describe_value",
]

_CELL_WIDTH = 40
_SMALL_TENSOR = 8  # tensors with at most this many elements are shown with their values


def describe_value(o: Any, width: int = _CELL_WIDTH) -> str:
    """`o` as one short line: a 0-d tensor as its number, a small tensor as its values, a larger one as
    its type, shape and dtype; anything else as `str(o)`; whitespace collapsed, cut to `width` characters."""
    if isinstance(o, torch.Tensor):
        if o.dim() == 0:
            text = str(o.item())
        elif o.numel() <= _SMALL_TENSOR:
            text = str(o.tolist())
        else:
            shape = "x".join(map(str, o.shape))
            text = f"{type(o).__name__}[{shape}] {str(o.dtype).removeprefix('torch.')}"
    else:
        text = str(o)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


# ---- contexts -------------------------------------------------------------------------------------------
def _is_pandas_series(ctx: Any) -> bool:
    return type(ctx).__module__.startswith("pandas") and type(ctx).__name__ == "Series"


def _free_label(taken: Any, label: str) -> str:
    while label in taken:
        label += "_"
    return label


def show_title(
    o: Any, ax: Any = None, ctx: Any = None, label: str | None = None, color: str = "black", **kwargs
):
    """Show `o` as a title on a context and return the context.

    - None: print `o` (returns None);
    - a matplotlib Axes (anything with `set_title`): set (or extend, on a new line) its title;
    - a `dict` or a pandas Series (a table row): add `o` under `label` (made unique with `_`);
    - a `list` (lines of text): append `str(o)`.
    """
    ctx = ax if ax is not None else ctx
    if ctx is None:
        print(o)
        return None
    if hasattr(ctx, "set_title"):
        current = ctx.get_title() if hasattr(ctx, "get_title") else ""
        ctx.set_title(f"{current}\n{o}" if current else str(o), color=color)
        return ctx
    label = "title" if label is None else label
    if isinstance(ctx, dict):
        ctx[_free_label(ctx, label)] = o
        return ctx
    if _is_pandas_series(ctx):
        import pandas as pd  # only reached with a Series, so pandas is installed

        return pd.concat([ctx, pd.Series({_free_label(ctx.index, label): o})])
    if isinstance(ctx, list):
        ctx.append(str(o))
        return ctx
    raise TypeError(
        f"show_title: cannot show on a context of type {type(ctx).__name__}; use a matplotlib Axes, a dict, "
        "a pandas Series, a list or None"
    )


class ShowTitle:
    """Mixin for values that show themselves as a title (`show_title`) on any context."""

    _show_args: dict = {"label": "text"}

    def show(self, ctx: Any = None, **kwargs: Any) -> Any:
        """Show this value as a title on `ctx` (see `show_title`); returns the context."""
        return show_title(str(self), ctx=ctx, **{**self._show_args, **kwargs})


class TitledInt(int, ShowTitle):
    """An `int` that shows itself as a title."""

    _show_args = {"label": "text"}


class TitledFloat(float, ShowTitle):
    """A `float` that shows itself as a title."""

    _show_args = {"label": "text"}


class TitledStr(str, ShowTitle):
    """A `str` that shows itself as a title; `truncate(n)` keeps its first `n` words."""

    _show_args = {"label": "text"}

    def truncate(self, n: int) -> TitledStr:
        """The first `n` words, as a `TitledStr`."""
        return TitledStr(" ".join(self.split(" ")[:n]))


class TitledTuple(tuple, ShowTitle):
    """A `tuple` that shows itself as a title (its elements joined by spaces)."""

    _show_args = {"label": "text"}

    def show(self, ctx: Any = None, **kwargs: Any) -> Any:
        return show_title(" ".join(map(str, self)), ctx=ctx, **{**self._show_args, **kwargs})


def get_grid(
    n: int,
    nrows: int | None = None,
    ncols: int | None = None,
    figsize: tuple[float, float] | None = None,
    double: bool = False,
    title: str | None = None,
    return_fig: bool = False,
    flatten: bool = True,
    **kwargs: Any,
) -> Any:
    """A matplotlib grid of at least `n` axes (nearly square by default), extra axes hidden; returns the
    first `n` axes (a flat list when `flatten`), and the figure first when `return_fig`. `double` doubles
    the columns (two axes per sample). Needs matplotlib (imported on call)."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"get_grid(n={n!r}): n must be a positive int")
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("get_grid needs matplotlib: pip install matplotlib") from e
    if nrows is None and ncols is None:
        nrows = int(math.sqrt(n))
        ncols = math.ceil(n / nrows)
    elif nrows is None:
        nrows = math.ceil(n / ncols)
    elif ncols is None:
        ncols = math.ceil(n / nrows)
    if double:
        ncols *= 2
        n *= 2
    figsize = figsize or (ncols * 3, nrows * 3)
    fig, axs = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, **kwargs)
    flat = [ax for row in axs for ax in row]
    for ax in flat[n:]:
        ax.set_axis_off()
    if title is not None:
        fig.suptitle(title, weight="bold", size=14)
    axs = flat[:n] if flatten else axs
    return (fig, axs) if return_fig else axs


# ---- the generic display --------------------------------------------------------------------------------
class SampleTable:
    """Samples as text: a header row and one row per sample, aligned in columns by `str()`.

    `columns` and `rows` hold the cell texts; `print(table)` (or `str`) gives the aligned table.
    """

    def __init__(self, columns: Sequence[str], rows: Sequence[Sequence[str]]):
        self.columns, self.rows = list(columns), [list(r) for r in rows]

    @classmethod
    def from_samples(cls, samples: Sequence[Any], columns: Sequence[str], width: int = _CELL_WIDTH):
        """A table with one row per sample (a tuple of parts, or a single value) under `columns`."""
        rows = []
        for s in samples:
            parts = list(s) if _is_parts(s) else [s]
            rows.append([describe_value(p, width) for p in parts])
        n = max([len(columns)] + [len(r) for r in rows])
        names = list(columns) + [f"[{i}]" for i in range(len(columns), n)]
        return cls(names, [r + [""] * (n - len(r)) for r in rows])

    def __str__(self) -> str:
        table = [["#", *self.columns]] + [[str(i), *r] for i, r in enumerate(self.rows)]
        widths = [max(len(row[j]) for row in table) for j in range(len(table[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
        return "\n".join(lines)

    __repr__ = __str__

    def __len__(self) -> int:
        return len(self.rows)


def _is_parts(s: Any) -> bool:
    return isinstance(s, (tuple, list)) and not hasattr(s, "_fields") and not isinstance(s, ShowTitle)


def _count(part: Any) -> int:
    """How many columns a batch part (`x` or `y` of `show_batch`) stands for: 0 for None, the length of a
    plain tuple (several inputs or targets), else 1."""
    if part is None:
        return 0
    return len(part) if type(part) is tuple else 1


def _names(prefix: str, k: int) -> list[str]:
    return [prefix] if k == 1 else [f"{prefix}{i}" for i in range(k)]


def _needs_figure(o: Any) -> bool:
    return hasattr(o, "show") and not isinstance(o, ShowTitle)


def _show_parts(columns: list[list[Any]], ctxs: Any, max_n: int, **kwargs: Any) -> list:
    """Show each column of parts on the contexts in turn (a part without `show` as a title)."""
    n = min(max_n, len(columns[0])) if columns else 0
    ctxs = [None] * n if ctxs is None else list(ctxs)[:n]
    if len(ctxs) < n:
        raise ValueError(f"show_batch: got {len(ctxs)} contexts for {n} samples")
    for parts in columns:
        ctxs = [
            p.show(ctx=c, **kwargs) if hasattr(p, "show") else show_title(p, ctx=c)
            for p, c in zip(parts, ctxs)
        ]
    return ctxs


def _columns_of(rows: Sequence[Any] | None, max_n: int) -> list[list[Any]]:
    if rows is None:
        return []
    rows = [tuple(r) if _is_parts(r) else (r,) for r in list(rows)[:max_n]]
    width = min(map(len, rows)) if rows else 0
    return [[r[j] for r in rows] for j in range(width)]


def _display(columns: list[list[Any]], names: list[str], ctxs: Any, max_n: int, **kwargs: Any) -> Any:
    if not columns:
        return SampleTable(names, [])
    if ctxs is not None or any(_needs_figure(p) for col in columns for p in col):
        return _show_parts(columns, ctxs, max_n, **kwargs)
    width = kwargs.get("width", _CELL_WIDTH)
    rows = list(zip(*columns))
    table = SampleTable.from_samples(rows, names, width=width)
    print(table)
    return table


@typedispatch
def show_batch(
    x: Any, y: Any, samples: Sequence[Any], ctxs: Any = None, max_n: int = 9, **kwargs: Any
) -> Any:
    """Show up to `max_n` decoded samples (generic case: any types).

    On `ctxs`, or when a part shows itself as a figure: each part's `show` (a part without one as a title),
    returning the contexts. Otherwise: prints and returns a `SampleTable`, one line per sample, with columns
    `x`/`y` (`x0`, `x1`, ... for several inputs), each cell `str` of the decoded value, cut to `width`
    (keyword, default 40) characters. With no samples, a batch `x` that shows itself is shown on `ctxs`.
    """
    if samples is None and hasattr(x, "show"):
        return x.show(ctx=ctxs, **kwargs)
    columns = _columns_of(samples, max_n)
    nx, ny = _count(x), _count(y)
    names = _names("x", nx) + _names("y", ny) if nx else []
    return _display(columns, names, ctxs, max_n, **kwargs)


@typedispatch
def show_results(
    x: Any,
    y: Any,
    samples: Sequence[Any],
    outs: Sequence[Any],
    ctxs: Any = None,
    max_n: int = 9,
    **kwargs: Any,
) -> Any:
    """Show up to `max_n` decoded samples with their decoded predictions `outs` (generic case: any types).

    Like `show_batch`, with the prediction parts after the sample's parts (`pred` columns in the table).
    """
    columns = _columns_of(samples, max_n) + _columns_of(outs, max_n)
    nx, ny = _count(x), _count(y)
    n_out = len(columns) - len(_columns_of(samples, max_n))
    names = (_names("x", nx) + _names("y", ny) + _names("pred", n_out)) if nx else []
    return _display(columns, names, ctxs, max_n, **kwargs)
