"""Learning-rate suggestions from a learning-rate finder run.

Each function takes the learning rates tried (increasing, positive), the losses recorded at
them and the number of iterations asked for, and returns `(suggested_lr, (lr, loss))`, the
point to mark on the loss-vs-lr plot. The finder passes the recorded curve without its first
tenth and last few points, as fastai does.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["minimum", "steep", "valley", "slide", "SuggestionMethod"]

Suggestion = tuple[float, tuple[float, float]]


def _curve(lrs: Any, losses: Any, func: str, min_points: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Both sequences as float64 arrays, checked."""

    def as_array(x: Any, what: str) -> np.ndarray:
        if hasattr(x, "detach"):
            x = x.detach().cpu().numpy()
        try:
            arr = np.asarray(x, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{func}: {what} must be a sequence of numbers: {e}") from None
        return arr

    lrs, losses = as_array(lrs, "lrs"), as_array(losses, "losses")
    if lrs.size != losses.size:
        raise ValueError(f"{func}: {lrs.size} learning rates for {losses.size} losses")
    if lrs.size < min_points:
        raise ValueError(f"{func}: needs at least {min_points} points of the loss curve, got {lrs.size}")
    if not np.all(np.isfinite(lrs)) or not np.all(lrs > 0):
        raise ValueError(f"{func}: learning rates must be positive and finite")
    bad = np.flatnonzero(~np.isfinite(losses))
    if bad.size:
        raise ValueError(
            f"{func}: loss at index {bad[0]} is {losses[bad[0]]}; cut the curve before the loss diverges"
        )
    return lrs, losses


def minimum(lrs: Sequence[float], losses: Sequence[float], num_it: int | None = None) -> Suggestion:
    """One tenth of the learning rate at which the loss is lowest (a safe distance from divergence).

    The marked point is the minimum itself.
    """
    lrs, losses = _curve(lrs, losses, "minimum")
    i = int(np.argmin(losses))
    return float(lrs[i]) / 10, (float(lrs[i]), float(losses[i]))


def steep(lrs: Sequence[float], losses: Sequence[float], num_it: int | None = None) -> Suggestion:
    """The learning rate where the loss falls fastest per unit of log(lr) (the most negative slope).

    The slope between points i and i+1 is credited to point i.
    """
    lrs, losses = _curve(lrs, losses, "steep", min_points=2)
    slopes = np.diff(losses) / np.diff(np.log(lrs))
    i = int(np.argmin(slopes))
    return float(lrs[i]), (float(lrs[i]), float(losses[i]))


def _longest_decrease(losses: np.ndarray) -> tuple[int, int]:
    """`(length, end)` of the longest strictly decreasing subsequence; the first `end` among ties.

    Patience sorting on the negated losses: `tails[k]` is the smallest possible last value of an
    increasing run of length k+1 found so far, which gives the run length ending at each point.
    """
    tails: list[float] = []
    best_len, best_end = 0, 0
    for i, x in enumerate(-losses):
        k = bisect.bisect_left(tails, x)
        if k == len(tails):
            tails.append(x)
        else:
            tails[k] = x
        if k + 1 > best_len:
            best_len, best_end = k + 1, i
    return best_len, best_end


def valley(lrs: Sequence[float], losses: Sequence[float], num_it: int | None = None) -> Suggestion:
    """fastai's "valley": a learning rate part way down the longest descent of the loss.

    The descent is the longest strictly decreasing subsequence of the losses (noise-tolerant: it
    may skip points that bump up). With `L` its length and `end` its last index, the valley is
    taken to span `[end - L, end]` and the suggestion is the point `L//3 + L//6` (about half-way,
    past the first third) into it: well into the descent, before its flat bottom.
    """
    lrs, losses = _curve(lrs, losses, "valley")
    length, end = _longest_decrease(losses)
    start = end - length
    span = end - start
    i = min(max(start + int(span / 3) + int(span / 6), 0), lrs.size - 1)
    return float(lrs[i]), (float(lrs[i]), float(losses[i]))


def slide(
    lrs: Sequence[float],
    losses: Sequence[float],
    num_it: int | None = None,
    lr_diff: int = 15,
    thresh: float = 0.005,
    adjust_value: float = 1.0,
) -> Suggestion:
    """fastai's "slide" rule: walk back from the end until the loss curve flattens out.

    A window of `lr_diff` points slides from the right end of the curve towards the left while
    the loss gradients (per point) at its two ends differ by more than `thresh`; the learning
    rate at the window's left end when it stops, times `adjust_value`, is the suggestion. The
    marked loss is interpolated at that learning rate on a log scale.
    """
    if lr_diff < 1:
        raise ValueError(f"slide: lr_diff must be at least 1, got {lr_diff}")
    lrs, losses = _curve(lrs, losses, "slide", min_points=max(lr_diff + 1, 2))
    grad = np.gradient(losses)
    right = lrs.size - 1
    left = right - lr_diff
    suggestion_idx = left
    while left >= 0 and abs(grad[right] - grad[left]) > thresh:
        suggestion_idx = left
        right, left = right - 1, left - 1
    lr = float(lrs[suggestion_idx]) * adjust_value
    loss = float(np.interp(math.log10(lr), np.log10(lrs), losses))
    return lr, (lr, loss)


class SuggestionMethod:
    """The suggestion functions by name, for `lr_find(suggest_funcs=...)`."""

    Valley = staticmethod(valley)
    Slide = staticmethod(slide)
    Minimum = staticmethod(minimum)
    Steep = staticmethod(steep)
