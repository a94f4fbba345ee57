"""Checks on the input of a table: column names that exist, continuous columns that hold numbers.

Each check fails with an error that names the argument, the column and the step, and for a misspelt
column lists the close matches; a bad value is shown with its row.
"""

from __future__ import annotations

import difflib
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["TabularKeyError", "MissingColumnError", "NonNumericColumnError"]

_SHOWN_COLUMNS = 30


class TabularKeyError(KeyError):
    """A column or name the table (or a proc's learned state) does not know; the message reads as written."""

    def __str__(self) -> str:  # a plain KeyError quotes its message
        return str(self.args[0]) if self.args else ""


class MissingColumnError(TabularKeyError):
    """A column named in `cat_names`, `cont_names` or `y_names` that the DataFrame does not have."""


class NonNumericColumnError(ValueError):
    """A continuous (or regression target) column holding a value that is not a number."""


def as_names(names: Any, arg: str) -> list[Hashable]:
    """`names` (None, one column name, or a collection of them) as a new list, checked for repeats."""
    if names is None:
        return []
    if isinstance(names, (str, int)) or not isinstance(names, Iterable):
        return [names]
    found = list(names)
    repeated = sorted({str(n) for n in found if found.count(n) > 1})
    if repeated:
        raise ValueError(f"{arg} names the column(s) {', '.join(map(repr, repeated))} more than once")
    return found


def row_label(index: pd.Index, position: int) -> Any:
    """The label of the row at `position`, as a plain Python value (for messages)."""
    return index[position : position + 1].tolist()[0]


def _columns_text(columns: Sequence[Hashable]) -> str:
    shown = ", ".join(repr(c) for c in list(columns)[:_SHOWN_COLUMNS])
    more = f", ... ({len(columns)} in all)" if len(columns) > _SHOWN_COLUMNS else ""
    return f"[{shown}{more}]"


def check_columns(df: pd.DataFrame, names: Sequence[Hashable], arg: str, step: str) -> None:
    """Raise `MissingColumnError` if `df` lacks one of `names` (named in argument `arg` at `step`)."""
    columns = list(df.columns)
    present = set(columns)
    for name in names:
        if name in present:
            continue
        close = difflib.get_close_matches(str(name), [str(c) for c in columns], n=3, cutoff=0.6)
        hint = f" Close matches: {', '.join(map(repr, close))}." if close else ""
        raise MissingColumnError(
            f"{step}: {arg} names the column {name!r}, which the DataFrame does not have.{hint} "
            f"Its columns are {_columns_text(columns)}"
        )


def numeric_column(col: pd.Series, arg: str, step: str) -> pd.Series:
    """`col` as numbers: itself when its dtype is numeric (or bool, as 0/1 floats), else converted from
    the strings or objects it holds. Raises `NonNumericColumnError` naming the column, a bad value and
    its row when a value is not a number (missing values are fine)."""
    dtype = col.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return col.astype(np.float32)
    if pd.api.types.is_numeric_dtype(dtype):
        return col
    name = col.name
    if pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
        raise NonNumericColumnError(
            f"{step}: {arg} column {name!r} holds dates ({dtype}), not numbers; turn it into numeric columns "
            "first (e.g. add_datepart(df, ...)) or list it in cat_names"
        )
    converted = pd.to_numeric(col, errors="coerce")
    bad = converted.isna().to_numpy() & col.notna().to_numpy()
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        value, label = col.iloc[position : position + 1].tolist()[0], row_label(col.index, position)
        others = int(bad.sum()) - 1
        more = f" ({others} more value(s) like it)" if others else ""
        raise NonNumericColumnError(
            f"{step}: {arg} column {name!r} holds the non-numeric value {value!r} at row {label!r} "
            f"(position {position}){more}; clean the column, or list it in cat_names if it is categorical"
        )
    return converted
