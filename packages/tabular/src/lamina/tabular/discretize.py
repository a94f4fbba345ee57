"""`Discretize`: add a binned copy of continuous columns as categorical columns, bins learned on the training
rows.

A network sees a continuous column through one weight per layer-1 unit, so a sharp threshold (Adult's
`capital-gain` above about 7,000 means a high income almost surely) takes many units to draw. The bin
column hands the model that threshold as a category with its own embedding, while the continuous column
stays for smooth effects. With target-aware bins (the default, `BinStrategy.target`) this closes most of
the gap to gradient-boosted trees on Adult (see the acceptance test).

    procs = [FillMissing, Discretize(n_bins=32), Categorify, Normalize]
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable

import numpy as np
import pandas as pd

from lamina.core.plugins.registry import register_class
from lamina.tabular.binning import BinStrategy
from lamina.tabular.checks import TabularKeyError, as_names
from lamina.tabular.table import Tabular, TabularProc
from lamina.tabular.targets import CategorizeTarget

__all__ = ["Discretize"]

EdgeFunction = Callable[[np.ndarray, "np.ndarray | None", int, int], np.ndarray]


def _floats(col: pd.Series) -> np.ndarray:
    return col.to_numpy(dtype=np.float64, na_value=np.nan)


def _target_matrix(to: Tabular) -> np.ndarray | None:
    """The training targets as floats, one row per table row (NaN where missing), or None without targets:
    one-hot indicators for a classification (and for any non-numeric column), each numeric column
    standardized (so that several targets weigh alike)."""
    if not to.has_targets:
        return None
    classification = isinstance(to.target, CategorizeTarget)
    parts = []
    for name in to.y_names:
        col = to.items[name]
        numeric = pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype)
        if classification or not numeric:
            codes, labels = pd.factorize(col, use_na_sentinel=True)
            one_hot = np.zeros((len(col), max(len(labels), 1)))
            one_hot[np.flatnonzero(codes >= 0), codes[codes >= 0]] = 1.0
            one_hot[codes < 0] = np.nan
            parts.append(one_hot)
        else:
            values = _floats(col.astype(np.float64) if pd.api.types.is_bool_dtype(col.dtype) else col)
            std = np.nanstd(values) if np.isfinite(values).any() else 0.0
            parts.append(((values - np.nanmean(values)) / std if std > 0 else values * 0.0)[:, None])
    return np.hstack(parts)


@register_class("lamina.tabular.Discretize")
class Discretize(TabularProc):
    """Add a categorical column `<col><suffix>` (default `<col>_bin`) for each continuous column in `names`
    (default: all of them), holding the bin of the value: a right-closed `pd.Interval` such as
    `(36.5, 41.5]`, the outer bins open (`(-inf, ...]`, `(..., inf)`), so values beyond the training range
    fall into the end bins. The continuous columns stay.

    - `strategy`: where the edges go, learned on the training rows: `BinStrategy.target` (default: the cuts
      that best separate the target, at least `min_leaf` training rows per bin) or `BinStrategy.quantile`
      (equal-frequency), or any function of that form (see `BinStrategy`).
    - `n_bins`: the most bins per column; a column with no edge (constant, or nothing to separate) gets no
      bin column.

    It runs after `FillMissing` (its `order` is 0.5) and before `Categorify`, which builds the bin columns'
    vocabularies (so `to.classes['age_bin']` lists the intervals) and decodes them back to intervals;
    a missing value (without `FillMissing`) becomes `'#na#'`. `edges[col]` holds the learned inner edges.
    """

    order = 0.5
    export_args = ("n_bins", "strategy", "min_leaf", "names", "suffix")
    export_state = ("edges",)

    def __init__(
        self,
        n_bins: int = 32,
        strategy: EdgeFunction = BinStrategy.target,
        min_leaf: int = 16,
        names: Hashable | Iterable[Hashable] | None = None,
        suffix: str = "_bin",
    ):
        super().__init__()
        for arg, value, low in (("n_bins", n_bins, 2), ("min_leaf", min_leaf, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"Discretize: {arg} must be an int >= {low}, got {value!r}")
        if not callable(strategy):
            raise TypeError(
                "Discretize(strategy=...) must be BinStrategy.target/.quantile or a function "
                f"(values, targets, n_bins, min_leaf) -> edges, got {strategy!r}"
            )
        if not isinstance(suffix, str) or not suffix:
            raise ValueError(f"Discretize: suffix must be a non-empty string, got {suffix!r}")
        self.n_bins, self.strategy, self.min_leaf, self.suffix = int(n_bins), strategy, int(min_leaf), suffix
        self.names = None if names is None else as_names(names, "names")
        self.edges: dict[Hashable, np.ndarray] = {}  # column -> sorted inner edges (binned columns only)

    def bin_name(self, name: Hashable) -> str:
        """The name of the bin column of continuous column `name`."""
        return f"{name}{self.suffix}"

    def bins(self, name: Hashable) -> pd.IntervalIndex:
        """The bins of column `name`, in order."""
        if name not in self.edges:
            raise TabularKeyError(
                f"Discretize: no bins for column {name!r}; it binned {list(self.edges)} when set up"
            )
        breaks = np.concatenate([[-np.inf], self.edges[name], [np.inf]])
        return pd.IntervalIndex.from_breaks(breaks, closed="right")

    def setups(self, to: Tabular) -> None:
        names = list(to.cont_names) if self.names is None else list(self.names)
        not_cont = [n for n in names if n not in to.cont_names]
        if not_cont:
            raise TabularKeyError(
                f"Discretize: names {not_cont} are not continuous columns; cont_names={to.cont_names}"
            )
        taken = [self.bin_name(n) for n in names if self.bin_name(n) in to.items.columns]
        if taken:
            raise ValueError(
                f"Discretize: the table already has column(s) {taken}, which the bin columns would replace; "
                "rename them or pass another suffix="
            )
        targets = _target_matrix(to)
        self.edges = {}
        for name in names:
            values = _floats(to.items[name])
            known = ~np.isnan(values)
            if targets is not None:
                known &= ~np.isnan(targets).any(1)
            if not known.any():
                raise ValueError(
                    f"Discretize: continuous column {name!r} has no value (with a target) in the training "
                    "rows to learn bins from"
                )
            y = None if targets is None else targets[known]
            edges = np.asarray(self.strategy(values[known], y, self.n_bins, self.min_leaf), dtype=np.float64)
            edges = np.unique(edges.reshape(-1))
            if edges.size and not np.isfinite(edges).all():
                raise ValueError(f"Discretize: the strategy gave non-finite edges {edges} for {name!r}")
            if edges.size:
                self.edges[name] = edges

    def encode_table(self, to: Tabular) -> None:
        for name, edges in self.edges.items():
            if name not in to.items.columns:
                raise TabularKeyError(f"Discretize: the table has no column {name!r} to bin")
            values = _floats(to.items[name])
            codes = np.searchsorted(edges, values, side="left")  # right-closed bins: v == edge -> lower bin
            codes[np.isnan(values)] = -1
            to.items[self.bin_name(name)] = pd.Categorical.from_codes(codes, categories=self.bins(name))
            if self.bin_name(name) not in to.cat_names:
                to.cat_names.append(self.bin_name(name))
