"""Where to cut a continuous column into bins: `quantile_edges` (equal-frequency) and `target_edges`
(target-aware: the thresholds of a one-feature regression/classification tree, Gorishniy et al. 2022, "On
Embeddings for Numerical Features in Tabular Deep Learning"), and `BinStrategy`, which `Discretize` takes.

Edges are the inner cut points, sorted; bins are right-closed: `(-inf, e0], (e0, e1], ..., (e_last, inf)`.
"""

from __future__ import annotations

import heapq

import numpy as np

from lamina.core.layers.recorded import register_function

__all__ = ["quantile_edges", "target_edges", "BinStrategy"]


def quantile_edges(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Inner edges splitting `values` (1-d, no NaN) into at most `n_bins` bins of about equal counts.

    Each edge is one of the values (the lower one at a quantile), so no bin is empty on `values`; repeated
    values (a point mass, e.g. the zeros of a mostly-zero column) give fewer bins."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return np.empty(0)
    quantiles = np.arange(1, n_bins) / n_bins
    edges = np.unique(np.quantile(x, quantiles, method="lower"))
    return edges[edges < x.max()]  # an edge at the maximum would leave the last bin empty


def target_edges(values: np.ndarray, targets: np.ndarray, n_bins: int, min_leaf: int = 1) -> np.ndarray:
    """Inner edges of at most `n_bins` bins of `values` (1-d, no NaN) that best separate `targets`.

    `targets` is `(n,)` or `(n, k)` floats (one-hot class indicators for a classification, values for a
    regression). The bins are the leaves of a tree on the one feature, grown best split first: each split
    is the one that most reduces the targets' sum of squared deviations within the bins (for one-hot
    targets this is the Gini impurity of a classification tree), with at least `min_leaf` values per bin.
    An edge lies halfway between the two distinct values it separates. Growth stops at `n_bins` bins or
    when no split reduces the deviations."""
    x = np.asarray(values, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    y = y.reshape(len(y), -1)
    if x.ndim != 1 or len(x) != len(y):
        raise ValueError(
            f"target_edges: values must be 1-d with one target row each, got values {x.shape} and targets "
            f"{np.shape(targets)}"
        )
    if x.size == 0:
        return np.empty(0)
    order = np.argsort(x, kind="stable")
    distinct, starts = np.unique(x[order], return_index=True)
    # cumulative counts and target sums over the distinct values: a bin of groups [a, b) is O(1) to score
    counts = np.concatenate([[0], np.cumsum(np.diff(np.append(starts, len(x))))])
    sums = np.vstack([np.zeros((1, y.shape[1])), np.cumsum(np.add.reduceat(y[order], starts, axis=0), 0)])
    root_sse = float(((y - y.mean(0)) ** 2).sum())
    tolerance = 1e-9 * root_sse  # a smaller gain is rounding noise (a pure bin)

    def best_split(a: int, b: int) -> tuple[float, int] | None:
        """The best cut of groups [a, b) into [a, j) and [j, b), as (gain, j), or None."""
        if b - a < 2:
            return None
        j = np.arange(a + 1, b)
        n_left, n_right = counts[j] - counts[a], counts[b] - counts[j]
        allowed = (n_left >= min_leaf) & (n_right >= min_leaf)
        if not allowed.any():
            return None
        s_left, s_right, s_all = sums[j] - sums[a], sums[b] - sums[j], sums[b] - sums[a]
        # SSE = sum(y^2) - |sum y|^2 / n, so a cut's gain needs only the counts and sums
        gain = (s_left**2).sum(1) / n_left + (s_right**2).sum(1) / n_right
        gain = gain - (s_all**2).sum() / (counts[b] - counts[a])
        gain[~allowed] = -np.inf
        best = int(np.argmax(gain))
        return (float(gain[best]), int(j[best])) if gain[best] > tolerance else None

    heap: list[tuple[float, int, int, int]] = []

    def push(a: int, b: int) -> None:
        found = best_split(a, b)
        if found is not None:
            heapq.heappush(heap, (-found[0], a, found[1], b))

    push(0, len(distinct))
    cuts: list[int] = []
    while heap and len(cuts) < n_bins - 1:
        _, a, j, b = heapq.heappop(heap)
        cuts.append(j)
        push(a, j)
        push(j, b)
    cuts.sort()
    return np.array([(distinct[j - 1] + distinct[j]) / 2 for j in cuts], dtype=np.float64)


@register_function("lamina.tabular.BinStrategy.quantile")
def _quantile(values: np.ndarray, targets: np.ndarray | None, n_bins: int, min_leaf: int) -> np.ndarray:
    return quantile_edges(values, n_bins)


@register_function("lamina.tabular.BinStrategy.target")
def _target(values: np.ndarray, targets: np.ndarray | None, n_bins: int, min_leaf: int) -> np.ndarray:
    if targets is None:
        raise ValueError(
            "BinStrategy.target places bins by the target, but the table has no target column (y_names); "
            "use Discretize(strategy=BinStrategy.quantile)"
        )
    return target_edges(values, targets, n_bins, min_leaf)


class BinStrategy:
    """How `Discretize` places a column's bin edges: each is a function
    `(training values, training targets or None, n_bins, min_leaf) -> sorted inner edges`; any function of
    that form works too. The targets are a float matrix, one row per value (one-hot for a classification).
    """

    quantile = staticmethod(_quantile)
    """Equal-frequency bins (`quantile_edges`); ignores the targets and `min_leaf`."""

    target = staticmethod(_target)
    """Target-aware bins (`target_edges`): the cuts that best separate the target, at least `min_leaf`
    training rows per bin."""
