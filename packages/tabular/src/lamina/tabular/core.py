"""`TabularPandas`: a processed table built from a pandas DataFrame, with procs learned on the training rows.

to = TabularPandas(df, procs=[Categorify, FillMissing, Normalize], cat_names=[...], cont_names=[...],
                   y_names="salary", splits=RandomSplitter()(range(len(df))))
to.train.xs, to.valid.ys, to.classes, to.show()
dls = to.dataloaders(bs=64)
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from lamina.core.data.transforms import Normalize
from lamina.core.pipeline import Pipeline
from lamina.tabular.checks import as_names, check_columns
from lamina.tabular.helpers import df_shrink_dtypes
from lamina.tabular.procs import TabularNormalize
from lamina.tabular.table import Tabular, TabularProc, split_positions
from lamina.tabular.targets import target_proc_for

__all__ = ["TabularPandas", "Tabular", "TabularProc", "as_tabular_procs"]


def _as_proc(p: Any, i: int) -> TabularProc:
    if p is Normalize or isinstance(p, Normalize):  # the kernel's Normalize stands for the tabular one
        if isinstance(p, Normalize) and (p.mean is not None or p.std is not None):
            raise ValueError(
                "procs: Normalize with given mean/std cannot normalize table columns; pass Normalize (the "
                "class) to learn each continuous column's statistics on the training rows"
            )
        return TabularNormalize()
    if isinstance(p, type) and issubclass(p, TabularProc):
        return p()
    if isinstance(p, TabularProc):
        return p
    raise TypeError(
        f"procs[{i}] is {p!r}; procs must be TabularProc classes or instances (Categorify, FillMissing, "
        "Normalize, ...)"
    )


def as_tabular_procs(procs: Any) -> list[TabularProc]:
    """`procs` (None, one proc, or a list of proc classes/instances) as a list of `TabularProc` instances."""
    if procs is None:
        return []
    if isinstance(procs, Pipeline):
        procs = list(procs.fs)
    if not isinstance(procs, (list, tuple)):
        procs = [procs]
    return [_as_proc(p, i) for i, p in enumerate(procs)]


def _check_roles(cat_names: list, cont_names: list, y_names: list) -> None:
    for a, b, names_a, names_b in (
        ("cat_names", "cont_names", cat_names, cont_names),
        ("cat_names", "y_names", cat_names, y_names),
        ("cont_names", "y_names", cont_names, y_names),
    ):
        both = [n for n in names_a if n in set(names_b)]
        if both:
            raise ValueError(
                f"TabularPandas: column(s) {both} are in both {a} and {b}; give each column one role"
            )


def _order_rows(splits: Any, df: pd.DataFrame) -> tuple[np.ndarray | None, int]:
    """(row positions, training first then validation, or None to keep the rows as they are; n_train)."""
    n = len(df)
    if splits is None:
        return None, n
    if callable(splits):
        splits = splits(df)
    if not isinstance(splits, (list, tuple)) or not 1 <= len(splits) <= 2:
        found = f"{len(splits)} parts" if isinstance(splits, (list, tuple)) else type(splits).__name__
        raise ValueError(
            "TabularPandas(splits=...) takes (train positions, valid positions), e.g. RandomSplitter()(df); "
            f"got {found}"
        )
    parts = [split_positions(s, n, which) for s, which in zip(splits, ("training", "validation"))]
    if len(parts) == 2:
        in_train = np.zeros(n, dtype=bool)
        in_train[parts[0]] = True
        shared = parts[1][in_train[parts[1]]]
        if shared.size:
            raise ValueError(
                f"TabularPandas: {shared.size} row(s) are in both the training and the validation split "
                f"(e.g. position {int(shared[0])}); the validation rows must be held out"
            )
    order = np.concatenate(parts)
    if order.size == n and np.array_equal(order, np.arange(n)):
        return None, len(parts[0])
    return order, len(parts[0])


class TabularPandas(Tabular):
    """A processed table from DataFrame `df`.

    - `cat_names`, `cont_names`, `y_names`: the columns by role (a name or a list; checked to exist).
    - `procs`: `TabularProc` classes or instances (e.g. `[Categorify, FillMissing, Normalize]`), run in their
      `order`; the target's proc (from `y_block`: `CategoryBlock()`, `RegressionBlock()`,
      `MultiCategoryBlock(encoded=True, vocab=y_names)`; inferred when None) joins them.
    - `splits`: `(train positions, valid positions)` or a splitter called on `df`; rows in neither are
      dropped, and the table holds the training rows first. None: every row is a training row.
    - `do_setup`: learn the procs on the training rows and process every row now.
    - `inplace`: process `df` itself instead of a copy (not possible when `splits` reorder the rows);
      `reduce_memory`: shrink the used columns' dtypes first (`df_shrink_dtypes`).
    - `device`: where the data loaders send batches by default.
    """

    def __init__(
        self,
        df: pd.DataFrame,
        procs: Any = None,
        cat_names: Hashable | Iterable[Hashable] | None = None,
        cont_names: Hashable | Iterable[Hashable] | None = None,
        y_names: Hashable | Iterable[Hashable] | None = None,
        y_block: Any = None,
        splits: Sequence[Sequence[int]] | Callable | None = None,
        do_setup: bool = True,
        device: Any = None,
        inplace: bool = False,
        reduce_memory: bool = True,
    ):
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"TabularPandas expects a pandas DataFrame, got {type(df).__name__}")
        cats, conts, ys = (
            as_names(n, a)
            for n, a in ((cat_names, "cat_names"), (cont_names, "cont_names"), (y_names, "y_names"))
        )
        for names, arg in ((cats, "cat_names"), (conts, "cont_names"), (ys, "y_names")):
            check_columns(df, names, arg, "TabularPandas")
        _check_roles(cats, conts, ys)
        order, n_train = _order_rows(splits, df)
        if order is not None:
            df = df.iloc[order]
        elif not inplace:
            df = df.copy()
        if reduce_memory:
            numeric_conts = [c for c in conts if pd.api.types.is_numeric_dtype(df[c].dtype)]
            used = set(cats + numeric_conts + ys)
            for name, dtype in df_shrink_dtypes(df, skip=[c for c in df.columns if c not in used]).items():
                df[name] = df[name].astype(dtype)
        target, loss_func = target_proc_for(y_block, df, ys)
        pipeline = Pipeline(as_tabular_procs(procs) + ([target] if target is not None else []))
        super().__init__(
            df, pipeline, cats, conts, ys, n_train, target=target, loss_func=loss_func, device=device
        )
        if do_setup:
            self.setup()
