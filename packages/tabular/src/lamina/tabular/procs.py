"""The input procs: `FillMissing` (with `FillStrategy`), `Categorify` and `TabularNormalize`.

Each learns from the training rows only and processes a table in place. They run in this order whatever
order they are given in: `FillMissing` (0) adds its `<col>_na` columns to `cat_names` before `Categorify`
(1) builds the vocabularies, and `TabularNormalize` (99) comes last. The kernel's `Normalize` given in
`procs` stands for `TabularNormalize`, so `procs=[Categorify, FillMissing, Normalize]` reads as in fastai.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from lamina.core.data.transforms import CategoryMap
from lamina.core.plugins.registry import register_class
from lamina.tabular.checks import TabularKeyError
from lamina.tabular.table import Tabular, TabularProc

__all__ = [
    "FillStrategy",
    "FillMissing",
    "Categorify",
    "TabularNormalize",
]


class FillStrategy:
    """How `FillMissing` fills a continuous column: each is a function `(training column, constant) -> fill
    value`; any function of that form works too."""

    @staticmethod
    def median(col: pd.Series, fill: Any) -> Any:
        """The median of the training values."""
        return col.median()

    @staticmethod
    def constant(col: pd.Series, fill: Any) -> Any:
        """The constant given in `fill_vals` (0 by default)."""
        return fill

    @staticmethod
    def mode(col: pd.Series, fill: Any) -> Any:
        """The most common training value (the smallest one on a tie)."""
        modes = col.dropna().mode()
        return modes.iloc[0] if len(modes) else np.nan


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # an array-like fill value
        return False


@register_class("lamina.tabular.FillMissing")
class FillMissing(TabularProc):
    """Fill missing values of continuous columns with a value learned on the training rows.

    `fill_strategy` (`FillStrategy.median`, `.mode`, `.constant`, or any `f(col, constant)`) gives each
    column's value; `fill_vals` maps a column to the constant of `FillStrategy.constant` (default 0). For a
    column with missing values in the training rows, `add_col` adds a bool column `<col>_na` (True where
    the value was missing) and appends it to `cat_names`. A column complete in the training rows but with
    missing values in new rows is filled the same way, without an `_na` column (the model's inputs are
    fixed at training time).
    """

    order = 0

    def __init__(
        self,
        fill_strategy: Callable[[pd.Series, Any], Any] = FillStrategy.median,
        add_col: bool = True,
        fill_vals: dict[Hashable, Any] | None = None,
    ):
        super().__init__()
        if not callable(fill_strategy):
            raise TypeError(
                f"FillMissing(fill_strategy=...) must be FillStrategy.median/.mode/.constant or a function "
                f"(col, constant) -> value, got {fill_strategy!r}"
            )
        self.fill_strategy, self.add_col = fill_strategy, add_col
        self.fill_vals: dict[Hashable, Any] = dict(fill_vals or {})
        self.fill_values: dict[Hashable, Any] = {}  # every continuous column -> its fill value
        self.na_dict: dict[Hashable, Any] = {}  # columns missing values in the training rows -> fill value

    def setups(self, to: Tabular) -> None:
        missing = to.items[to.cont_names].isna().any() if to.cont_names else pd.Series(dtype=bool)
        self.fill_values, self.na_dict = {}, {}
        for name in to.cont_names:
            value = self.fill_strategy(to.items[name], self.fill_vals.get(name, 0))
            if _is_missing(value) and missing[name]:
                raise ValueError(
                    f"FillMissing: continuous column {name!r} has no value in the training rows to fill its "
                    f"missing values from ({getattr(self.fill_strategy, '__name__', self.fill_strategy)} "
                    f"gave {value!r}); drop the column or use FillStrategy.constant with fill_vals"
                )
            self.fill_values[name] = value
            if missing[name]:
                self.na_dict[name] = value

    def encode_table(self, to: Tabular) -> None:
        for name in to.cont_names:
            col = to.items[name]
            isna = col.isna()
            if self.add_col and name in self.na_dict:
                na_name = f"{name}_na"
                to.items[na_name] = isna.to_numpy()
                if na_name not in to.cat_names:
                    to.cat_names.append(na_name)
            if not isna.any():
                continue
            if name not in self.fill_values:
                raise ValueError(
                    f"FillMissing: continuous column {name!r} has missing values but was not a continuous "
                    "column when FillMissing was set up"
                )
            to.items[name] = col.fillna(self.fill_values[name])


def sort_labels(labels: Any) -> list:
    """`labels` sorted; mixed types (e.g. numbers and strings) by type name, then text."""
    try:
        return sorted(labels)
    except TypeError:
        return sorted(labels, key=lambda o: (type(o).__name__, str(o)))


def _plain(o: Any) -> Any:
    item = getattr(o, "item", None)
    return item() if callable(item) and type(o).__module__ == "numpy" else o


def category_vocab(col: pd.Series, add_na: bool = True, sort: bool = True) -> CategoryMap:
    """The vocabulary of a categorical column: the distinct values it holds (missing ones left out), in
    the categories' order for a pandas categorical column, else sorted (when `sort`) or as they appear;
    `'#na#'` first when `add_na`."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = np.unique(col.cat.codes.to_numpy())
        labels = list(col.cat.categories[codes[codes >= 0]])
    else:
        distinct = col.unique()  # hashing in pandas; the few distinct values are then handled in Python
        labels = [o for o in distinct.tolist() if not _is_missing(o)]
        if sort:
            labels = sort_labels(labels)
    return CategoryMap([_plain(o) for o in labels], sort=False, add_na=add_na)


def _code_dtype(n: int) -> np.dtype:
    for t in (np.int8, np.int16, np.int32):
        if n <= np.iinfo(t).max:
            return np.dtype(t)
    return np.dtype(np.int64)


def encode_categories(col: pd.Series, vocab: CategoryMap) -> np.ndarray:
    """The class index of each value of `col` in `vocab` (which starts with `'#na#'`): missing values and
    values not in the vocabulary get 0."""
    codes = category_codes(col, vocab.items[1:]) + 1
    return codes.astype(_code_dtype(len(vocab)))


def category_codes(col: pd.Series, labels: Sequence) -> np.ndarray:
    """The position of each value of `col` in `labels` (int64), -1 for missing or unknown values."""
    index = pd.Index(list(labels))
    if isinstance(col.dtype, pd.CategoricalDtype):  # look up each category once, then map the codes
        lookup = np.append(index.get_indexer(col.cat.categories), -1)
        return lookup[col.cat.codes.to_numpy()].astype(np.int64)
    return index.get_indexer(col).astype(np.int64)


def decode_categories(codes: Any, vocab: CategoryMap, name: Hashable) -> np.ndarray:
    """The labels of class indices `codes` (an object array)."""
    idx = np.asarray(codes).astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= len(vocab)):
        bad = int(idx[(idx < 0) | (idx >= len(vocab))][0])
        raise IndexError(
            f"column {name!r}: class index {bad} is outside its vocabulary of {len(vocab)} labels"
        )
    return np.asarray(list(vocab.items), dtype=object)[idx]


@register_class("lamina.tabular.Categorify")
class Categorify(TabularProc):
    """Replace each categorical column by class indices into its vocabulary (`classes[col]`), learned on
    the training rows with `'#na#'` at index 0: missing values and categories the training rows never had
    become 0. Decodes back to the labels."""

    order = 1

    def __init__(self):
        super().__init__()
        self.classes: dict[Hashable, CategoryMap] = {}

    def setups(self, to: Tabular) -> None:
        self.classes = {name: category_vocab(to.items[name]) for name in to.cat_names}

    def _vocab(self, name: Hashable) -> CategoryMap:
        vocab = self.classes.get(name)
        if vocab is None:
            raise TabularKeyError(
                f"Categorify: no vocabulary for categorical column {name!r}; it was not among cat_names when "
                f"Categorify was set up (it knows {list(self.classes)})"
            )
        return vocab

    def encode_table(self, to: Tabular) -> None:
        for name in to.cat_names:
            to.items[name] = encode_categories(to.items[name], self._vocab(name))

    def decode_table(self, to: Tabular) -> None:
        for name in to.cat_names:
            if name in self.classes:
                to.items[name] = decode_categories(to.items[name], self.classes[name], name)

    def __getitem__(self, name: Hashable) -> CategoryMap:
        """The vocabulary of column `name`."""
        return self._vocab(name)


def _as_float(col: pd.Series) -> np.ndarray:
    return col.to_numpy(dtype=np.float64, na_value=np.nan)


@register_class("lamina.tabular.TabularNormalize")
class TabularNormalize(TabularProc):
    """Normalize each continuous column with the mean and standard deviation (population, plus 1e-7) of its
    training values; values become float32. Decodes back to the original scale (whole numbers for columns
    that held integers, else float32)."""

    order = 99

    def __init__(self):
        super().__init__()
        self.means: dict[Hashable, float] = {}
        self.stds: dict[Hashable, float] = {}
        self.integer_columns: set[Hashable] = set()  # decoded back to whole numbers

    def setups(self, to: Tabular) -> None:
        self.means, self.stds = {}, {}
        self.integer_columns = {n for n in to.cont_names if pd.api.types.is_integer_dtype(to.items[n].dtype)}
        for name in to.cont_names:
            x = _as_float(to.items[name])
            x = x[~np.isnan(x)]
            if x.size == 0:
                raise ValueError(
                    f"TabularNormalize: continuous column {name!r} has no value in the training rows to "
                    "compute its mean and standard deviation from"
                )
            self.means[name], self.stds[name] = float(x.mean()), float(x.std()) + 1e-7

    def _stats(self, name: Hashable) -> tuple[float, float]:
        if name not in self.means:
            raise TabularKeyError(
                f"TabularNormalize: no statistics for continuous column {name!r}; it was not among "
                "cont_names when the proc was set up"
            )
        return self.means[name], self.stds[name]

    def encode_table(self, to: Tabular) -> None:
        for name in to.cont_names:
            mean, std = self._stats(name)
            to.items[name] = ((_as_float(to.items[name]) - mean) / std).astype(np.float32)

    def decode_table(self, to: Tabular) -> None:
        for name in to.cont_names:
            mean, std = self._stats(name)
            values = _as_float(to.items[name]) * std + mean
            if name in self.integer_columns:  # float32 rounding shows as 62.999996: give back whole numbers
                to.items[name] = np.round(values).astype(np.int64)
            else:
                to.items[name] = values.astype(np.float32)
