"""`CollabDataLoaders`: a ratings table as tabular data loaders, with users and items as categories.

dls = CollabDataLoaders.from_df(ratings, bs=64, seed=42)   # columns: user, item, rating (first three)
dls.classes["movieId"]                                      # the item vocabulary, '#na#' first

A collaborative-filtering dataset is a table with two high-cardinality categorical columns (the user and
the item) and a numeric target (the rating): it is built on `TabularPandas` with `Categorify` on the user
and item columns, and its batches are the tabular `(x_cat, x_cont, y)` with `x_cat[:, 0]` the user index,
`x_cat[:, 1]` the item index and an empty `x_cont`.

Users or items that the training rows never had have no trained embedding. `test_dl` (and so
`CollabLearner.predict`) raises `UnseenIdError` naming them instead of silently mapping them to `'#na#'`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lamina.collab.loader import CollabDataLoader
from lamina.core.data.blocks import RegressionBlock
from lamina.core.data.splitters import RandomSplitter
from lamina.tabular.checks import MissingColumnError, check_columns, row_label
from lamina.tabular.core import TabularPandas
from lamina.tabular.data import TabularDataLoaders
from lamina.tabular.loader import TabDataLoader
from lamina.tabular.procs import Categorify, category_codes

__all__ = ["CollabDataLoaders", "UnseenIdError", "check_known_ids"]

_SHOWN = 5


class UnseenIdError(KeyError):
    """Users or items that were not in the training data (so the model has no embedding for them).

    `column` is the user or item column, `values` the unseen values (in order of appearance)."""

    def __init__(self, message: str, column: Hashable = None, values: Sequence = ()):
        super().__init__(message)
        self.column, self.values = column, list(values)

    def __str__(self) -> str:  # a plain KeyError quotes its message
        return str(self.args[0])


def _shown(values: Sequence) -> str:
    more = f", ... ({len(values)} in all)" if len(values) > _SHOWN else ""
    return ", ".join(repr(v) for v in list(values)[:_SHOWN]) + more


def _type_hint(values: list, known: Sequence) -> str:
    """A hint when the unseen values are of another type than the vocabulary (e.g. '15' vs 15)."""
    known_types = {type(o).__name__ for o in known}
    given_types = {type(o).__name__ for o in values}
    if known and given_types and not given_types & known_types:
        return (
            f" They are {'/'.join(sorted(given_types))} values but the vocabulary holds "
            f"{'/'.join(sorted(known_types))} values such as {known[0]!r}: convert them first."
        )
    return ""


def _check_present(df: pd.DataFrame, names: Sequence[Hashable], step: str) -> None:
    """Raise `ValueError` if a row of `df` has no value in one of the columns `names`."""
    for name in names:
        missing = df[name].isna().to_numpy()
        if missing.any():
            row = row_label(df.index, int(np.flatnonzero(missing)[0]))
            raise ValueError(
                f"{step}: column {name!r} has {int(missing.sum())} missing value(s) (e.g. row {row!r}); "
                "every rating needs a user and an item"
            )


def check_known_ids(df: pd.DataFrame, classes: dict, names: Sequence[Hashable], step: str) -> None:
    """Raise if a row of `df` has no value, or a value outside the vocabulary `classes[name]`, in one of the
    columns `names`: `ValueError` for a missing value, `UnseenIdError` naming the unseen values."""
    check_columns(df, names, "user/item columns", step)
    _check_present(df, names, step)
    for name in names:
        col = df[name]
        known = list(classes[name].items[1:])
        unseen = category_codes(col, known) < 0
        if unseen.any():
            values = list(dict.fromkeys(col[unseen].tolist()))
            first = row_label(df.index, int(np.flatnonzero(unseen)[0]))
            raise UnseenIdError(
                f"{step}: {name!r} value(s) {_shown(values)} (first at row {first!r}) were not in the "
                f"training data, so the model has no embedding for them; the vocabulary of {name!r} has "
                f"{len(known)} values.{_type_hint(values, known)} Drop those rows or retrain with them.",
                name,
                values,
            )


def _column(df: pd.DataFrame, given: Hashable | None, position: int, arg: str) -> Hashable:
    if given is not None:
        check_columns(df, [given], arg, "CollabDataLoaders.from_df")
        return given
    if len(df.columns) <= position:
        raise MissingColumnError(
            f"CollabDataLoaders.from_df: {arg} defaults to column {position + 1} but the DataFrame has only "
            f"{len(df.columns)} column(s) {list(df.columns)}; the ratings need user, item and rating columns"
        )
    return df.columns[position]


class CollabDataLoaders(TabularDataLoaders):
    """Training and validation loaders over a ratings table: `TabularDataLoaders` whose categorical columns
    are the user and the item (`user_name`, `item_name`) and whose target is the rating (`rating_name`).
    `classes` holds both vocabularies; `test_dl` refuses users or items the training rows never had."""

    @classmethod
    def from_df(
        cls,
        ratings: pd.DataFrame,
        valid_pct: float = 0.2,
        user_name: Hashable | None = None,
        item_name: Hashable | None = None,
        rating_name: Hashable | None = None,
        seed: int | None = None,
        path: str | Path = ".",
        bs: int = 64,
        **kwargs: Any,
    ) -> CollabDataLoaders:
        """Loaders over `ratings`: the user, item and rating columns are `user_name`, `item_name`,
        `rating_name` (default: the first, second and third columns; other columns are ignored). A random
        `valid_pct` of the rows is the validation set; `seed` makes that split and the shuffling
        reproducible. `kwargs` go to the loaders (`val_bs`, `shuffle`, `drop_last`, `device`, ...)."""
        if not isinstance(ratings, pd.DataFrame):
            raise TypeError(
                "CollabDataLoaders.from_df expects the ratings as a pandas DataFrame, got "
                f"{type(ratings).__name__}"
            )
        if len(ratings) == 0:
            raise ValueError("CollabDataLoaders.from_df: the ratings table has no rows")
        user = _column(ratings, user_name, 0, "user_name")
        item = _column(ratings, item_name, 1, "item_name")
        rating = _column(ratings, rating_name, 2, "rating_name")
        if len({user, item, rating}) < 3:
            raise ValueError(
                f"CollabDataLoaders.from_df: user_name={user!r}, item_name={item!r} and "
                f"rating_name={rating!r} must be three different columns"
            )
        _check_present(ratings, [user, item], "CollabDataLoaders.from_df")
        splits = RandomSplitter(valid_pct=valid_pct, seed=seed)(range(len(ratings)))
        to = TabularPandas(
            ratings,
            procs=[Categorify],
            cat_names=[user, item],
            cont_names=[],
            y_names=[rating],
            y_block=RegressionBlock(),
            splits=splits,
        )
        if seed is not None:
            kwargs.setdefault("seed", seed)
        kwargs.setdefault("dl_type", CollabDataLoader)
        return cls.from_tabular(to, bs=bs, path=path, **kwargs)

    @classmethod
    def from_csv(cls, csv: str | Path, **kwargs: Any) -> CollabDataLoaders:
        """`from_df` on the CSV file `csv` (read with `pandas.read_csv`); `kwargs` go to `from_df`."""
        try:
            ratings = pd.read_csv(csv)
        except FileNotFoundError as e:
            raise FileNotFoundError(f"CollabDataLoaders.from_csv: no CSV file at {csv}") from e
        return cls.from_df(ratings, **kwargs)

    # ---- the columns ---------------------------------------------------------------------------------
    def _role(self, names: list, i: int, role: str) -> Hashable:
        if len(names) <= i:
            raise ValueError(f"CollabDataLoaders: the table has no {role} column ({names})")
        return names[i]

    @property
    def user_name(self) -> Hashable:
        """The user column."""
        return self._role(self.tabular._input_cat_names, 0, "user")

    @property
    def item_name(self) -> Hashable:
        """The item column."""
        return self._role(self.tabular._input_cat_names, 1, "item")

    @property
    def rating_name(self) -> Hashable:
        """The rating column."""
        return self._role(self.y_names, 0, "rating")

    # ---- using it ------------------------------------------------------------------------------------
    def test_dl(self, test_items: pd.DataFrame, *args: Any, **kwargs: Any) -> TabDataLoader:
        """A loader over the new ratings `test_items` (the rating column may be missing), after checking
        that each user and item was in the training data (`UnseenIdError` names those that were not)."""
        if not isinstance(test_items, pd.DataFrame):
            raise TypeError(
                f"CollabDataLoaders.test_dl expects a pandas DataFrame, got {type(test_items).__name__}"
            )
        names = [self.user_name, self.item_name]
        check_known_ids(test_items, self.classes, names, "CollabDataLoaders.test_dl")
        return super().test_dl(test_items, *args, **kwargs)
