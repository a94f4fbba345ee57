"""`show_batch` / `show_results` for tables: decoded rows as a pandas DataFrame.

These join the kernel's type-dispatched `show_batch` / `show_results` (importing this module registers
them): `x` is a decoded `Tabular`, and for `show_results` `y` is the DataFrame of decoded predictions. The
rows are displayed (HTML in a notebook, text elsewhere) when `show`, and returned.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from lamina.core.dispatch import typedispatch
from lamina.tabular.table import Tabular, display_df

__all__ = ["show_batch", "show_results"]


def _rows(x: Tabular, max_n: int) -> pd.DataFrame:
    columns = [c for c in x.all_col_names if c in x.items.columns]
    return x.items[columns].iloc[:max_n].reset_index(drop=True)


@typedispatch
def show_batch(
    x: Tabular, y: Any, samples: Any, ctxs: Any = None, max_n: int = 10, show: bool = True, **kwargs: Any
) -> pd.DataFrame:
    """The first `max_n` decoded rows of a tabular batch (input and target columns)."""
    df = _rows(x, max_n)
    if show:
        display_df(df)
    return df


@typedispatch
def show_results(
    x: Tabular,
    y: Any,
    samples: Any,
    outs: Any,
    ctxs: Any = None,
    max_n: int = 10,
    show: bool = True,
    **kwargs: Any,
) -> pd.DataFrame:
    """The first `max_n` decoded rows of a tabular batch with the decoded predictions `y` beside them."""
    df = _rows(x, max_n)
    if isinstance(y, pd.DataFrame):
        df = pd.concat([df, y.iloc[:max_n].reset_index(drop=True)], axis=1)
    if show:
        display_df(df)
    return df
