"""DataFrame helpers for feature engineering: dates, elapsed times, column kinds, smaller dtypes."""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from lamina.tabular.checks import as_names, check_columns, row_label

__all__ = [
    "make_date",
    "add_datepart",
    "add_elapsed_times",
    "cont_cat_split",
    "df_shrink_dtypes",
    "df_shrink",
]

# column suffix -> the pandas `.dt` attribute it is read from
_DATE_PARTS = {
    "Year": "year",
    "Month": "month",
    "Week": "week",
    "Day": "day",
    "Dayofweek": "day_of_week",
    "Dayofyear": "day_of_year",
    "Is_month_end": "is_month_end",
    "Is_month_start": "is_month_start",
    "Is_quarter_end": "is_quarter_end",
    "Is_quarter_start": "is_quarter_start",
    "Is_year_end": "is_year_end",
    "Is_year_start": "is_year_start",
}
_TIME_PARTS = {"Hour": "hour", "Minute": "minute", "Second": "second"}


def make_date(df: pd.DataFrame, date_field: Hashable) -> pd.DataFrame:
    """Make column `date_field` of `df` a datetime column (in place; parsed when it is not one); returns
    `df`."""
    check_columns(df, [date_field], "date_field", "make_date")
    col = df[date_field]
    if pd.api.types.is_datetime64_any_dtype(col.dtype):
        return df
    try:
        df[date_field] = pd.to_datetime(col)
    except (ValueError, TypeError) as e:
        raise ValueError(f"make_date: column {date_field!r} cannot be read as dates: {e}") from e
    return df


def _epoch_seconds(field: pd.Series) -> np.ndarray:
    """Seconds since 1970-01-01 (UTC for zone-aware dates) as floats, NaN for missing dates."""
    if getattr(field.dt, "tz", None) is not None:
        field = field.dt.tz_convert("UTC").dt.tz_localize(None)
    seconds = (field - pd.Timestamp(0)) / pd.Timedelta(seconds=1)
    return np.floor(seconds.to_numpy(dtype=np.float64))


def add_datepart(
    df: pd.DataFrame, field_name: Hashable, prefix: str | None = None, drop: bool = True, time: bool = False
) -> pd.DataFrame:
    """Add the parts of date column `field_name` as columns (in place; returns `df`).

    The new columns are `<prefix>Year, Month, Week` (ISO week), `Day, Dayofweek, Dayofyear`, the flags
    `Is_month_end ... Is_year_start`, with `time` also `Hour, Minute, Second`, and `Elapsed` (seconds since
    1970, NaN for a missing date). `prefix` defaults to the column name without a trailing 'date'/'Date'.
    The date column is dropped when `drop`.
    """
    make_date(df, field_name)
    field = df[field_name]
    prefix = re.sub("[Dd]ate$", "", str(field_name)) if prefix is None else prefix
    parts: dict[str, Any] = {}
    for part, attr in {**_DATE_PARTS, **(_TIME_PARTS if time else {})}.items():
        if part == "Week":  # the ISO week
            parts[part] = field.dt.isocalendar().week.astype("float64" if field.isna().any() else "int64")
        else:
            parts[part] = getattr(field.dt, attr)
    for part, values in parts.items():
        df[prefix + part] = values
    df[prefix + "Elapsed"] = _epoch_seconds(field)
    if drop:
        del df[field_name]
    return df


def _check_unique_pairs(df: pd.DataFrame, date_field: Hashable, base_field: Hashable) -> None:
    repeated = df.duplicated([base_field, date_field])
    if repeated.any():
        row = row_label(df.index, int(np.flatnonzero(repeated.to_numpy())[0]))
        raise ValueError(
            f"add_elapsed_times: ({base_field!r}, {date_field!r}) must identify a row, but row {row!r} "
            "repeats an earlier pair"
        )


def add_elapsed_times(
    df: pd.DataFrame, field_names: Hashable | Iterable[Hashable], date_field: Hashable, base_field: Hashable
) -> pd.DataFrame:
    """For each event column in `field_names` (true on the rows where the event happens), add per group of
    `base_field` (e.g. a store), ordered by `date_field`:

    - `After<f>`: days since the latest event on or before the row's date (0 before the first event);
    - `Before<f>`: days until the next event on or after it, as a number <= 0 (0 after the last event);
    - `<f>_bw` / `<f>_fw`: how many events in the 7 rows ending / starting at the row.

    Each (`base_field`, `date_field`) pair must identify one row. Returns a new DataFrame: `df` with the
    event columns as bools and the date column as dates, plus these columns.
    """
    fields = as_names(field_names, "field_names")
    check_columns(
        df, [*fields, date_field, base_field], "field_names/date_field/base_field", "add_elapsed_times"
    )
    out = df.copy()
    out[fields] = out[fields].astype(bool)
    make_date(out, date_field)
    _check_unique_pairs(out, date_field, base_field)
    work = out[[*fields, date_field, base_field]].reset_index(drop=True)
    work = work.sort_values([base_field, date_field], kind="stable")
    groups, dates = work[base_field], work[date_field]
    new: dict[str, pd.Series] = {}
    for f in fields:
        event_dates = dates.where(work[f])
        last = event_dates.groupby(groups, sort=False).ffill()
        following = event_dates.groupby(groups, sort=False).bfill()
        new[f"After{f}"] = (dates - last).dt.days.fillna(0).astype(np.int64)
        new[f"Before{f}"] = (dates - following).dt.days.fillna(0).astype(np.int64)
    for suffix, ascending in (("_bw", True), ("_fw", False)):
        ordered = work.sort_values([base_field, date_field], ascending=[True, ascending], kind="stable")
        sums = ordered.groupby(base_field, sort=False)[fields].rolling(7, min_periods=1).sum()
        sums = sums.reset_index(level=0, drop=True)
        for f in fields:
            new[f"{f}{suffix}"] = sums[f]
    for name, values in new.items():
        out[name] = values.sort_index().to_numpy()
    return out


def cont_cat_split(
    df: pd.DataFrame, max_card: int = 20, dep_var: Hashable | Iterable[Hashable] | None = None
) -> tuple[list[Hashable], list[Hashable]]:
    """`(cont_names, cat_names)`: float columns and integer columns with more than `max_card` distinct
    values are continuous, every other column is categorical; the `dep_var` column(s) are left out."""
    skip = set(as_names(dep_var, "dep_var"))
    conts: list[Hashable] = []
    cats: list[Hashable] = []
    for name in df.columns:
        if name in skip:
            continue
        dtype = df[name].dtype
        is_float = pd.api.types.is_float_dtype(dtype)
        many_ints = pd.api.types.is_integer_dtype(dtype) and df[name].nunique() > max_card
        (conts if is_float or many_ints else cats).append(name)
    return conts, cats


_INT_TYPES = (np.int8, np.int16, np.int32, np.int64)
_UINT_TYPES = (np.uint8, np.uint16, np.uint32, np.uint64)


def _smallest_int(low: Any, high: Any, unsigned: bool) -> np.dtype:
    for t in _UINT_TYPES if unsigned else _INT_TYPES:
        info = np.iinfo(t)
        if info.min <= low and high <= info.max:
            return np.dtype(t)
    return np.dtype(np.int64)


def _is_text(dtype: Any) -> bool:
    return (isinstance(dtype, np.dtype) and dtype.kind == "O") or isinstance(dtype, pd.StringDtype)


def df_shrink_dtypes(
    df: pd.DataFrame, skip: Iterable[Hashable] = (), obj2cat: bool = True, int2uint: bool = False
) -> dict[Hashable, Any]:
    """The smaller dtype each column of `df` can take without losing values: the smallest integer type
    holding an integer column's range (unsigned when `int2uint` and the column has no negative value),
    float32 for float64 columns, and with `obj2cat` 'category' for text columns. Columns in `skip`,
    bool, category, date and other extension columns keep theirs (they are left out of the dict)."""
    skip = set(skip)
    found: dict[Hashable, Any] = {}
    for name, dtype in df.dtypes.items():
        if name in skip:
            continue
        if isinstance(dtype, np.dtype) and dtype.kind in "iu":
            col = df[name]
            if len(col) == 0:
                continue
            low, high = col.min(), col.max()
            new = _smallest_int(low, high, unsigned=int2uint and low >= 0)
            if dtype.kind == "u" and not int2uint:
                new = _smallest_int(low, high, unsigned=True)
            if new.itemsize < dtype.itemsize:
                found[name] = new
        elif isinstance(dtype, np.dtype) and dtype == np.float64:
            col = df[name]
            finite = col[np.isfinite(col)]
            limit = np.finfo(np.float32).max
            if len(finite) == 0 or (finite.abs().max() <= limit):
                found[name] = np.dtype(np.float32)
        elif obj2cat and _is_text(dtype):
            found[name] = "category"
    return found


def df_shrink(
    df: pd.DataFrame, skip: Iterable[Hashable] = (), obj2cat: bool = True, int2uint: bool = False
) -> pd.DataFrame:
    """A copy of `df` with the smaller dtypes of `df_shrink_dtypes` (text columns whose values cannot
    be categories, such as lists, keep their dtype)."""
    out = df.copy()
    for name, dtype in df_shrink_dtypes(df, skip=skip, obj2cat=obj2cat, int2uint=int2uint).items():
        try:
            out[name] = out[name].astype(dtype)
        except TypeError:  # unhashable objects cannot become categories
            continue
    return out
