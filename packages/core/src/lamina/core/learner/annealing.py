"""Annealing functions for hyper-parameter schedules.

Each schedule is a picklable callable `f(pos)` giving the value at `pos`, the fraction of
training done, in [0, 1]. `pos` may be a float, a numpy array or a tensor (evaluated element
by element). `start` and `end` may be numbers or, for one value per parameter group, arrays,
tensors or lists (lists become numpy arrays).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "Schedule",
    "SchedLin",
    "SchedCos",
    "SchedNo",
    "SchedExp",
    "SchedPoly",
    "CombinedSchedule",
    "combine_scheds",
    "combined_cos",
    "sched_lin",
    "sched_cos",
    "sched_no",
    "sched_exp",
]

Pos = Any  # float | np.ndarray | torch.Tensor
Value = Any  # number | np.ndarray | torch.Tensor


def _as_value(v: Any, what: str, sched: str) -> Value:
    if isinstance(v, (list, tuple)):
        v = np.asarray(v, dtype=float)
    if isinstance(v, bool) or not isinstance(v, (int, float, np.ndarray, np.generic, torch.Tensor)):
        raise TypeError(f"{sched}: {what} must be a number, an array or a tensor, got {type(v).__name__}")
    return v


def _check_pos(pos: Pos, sched: Any) -> None:
    """`sched` (an object or its name) is only formatted for the error message."""
    if isinstance(pos, torch.Tensor):
        ok = bool(((pos >= 0) & (pos <= 1)).all())
    elif isinstance(pos, np.ndarray):
        ok = bool(np.all((pos >= 0) & (pos <= 1)))
    elif isinstance(pos, (int, float, np.generic)) and not isinstance(pos, bool):
        ok = 0 <= pos <= 1
    else:
        raise TypeError(f"{sched}: pos must be a float, an array or a tensor, got {type(pos).__name__}")
    if not ok:
        raise ValueError(f"{sched}: pos must lie in [0, 1] (the fraction of training done), got {pos}")


def _cos(x: Pos) -> Pos:
    if isinstance(x, torch.Tensor):
        return torch.cos(x)
    if isinstance(x, np.ndarray):
        return np.cos(x)
    return math.cos(x)


def _fmt(v: Value) -> str:
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu().numpy()
    if isinstance(v, np.ndarray):
        return "[" + ", ".join(f"{x:g}" for x in v.reshape(-1).tolist()) + "]"
    return f"{v:g}"


def sched_lin(start: Value, end: Value, pos: Pos) -> Value:
    """Linear from `start` (pos 0) to `end` (pos 1)."""
    return start + pos * (end - start)


def sched_cos(start: Value, end: Value, pos: Pos) -> Value:
    """Half a cosine from `start` to `end`: flat at both ends, steepest in the middle."""
    return start + (1 + _cos(math.pi * (1 - pos))) * (end - start) / 2


def sched_no(start: Value, end: Value, pos: Pos) -> Value:
    """Constant `start` (`end` is ignored)."""
    if isinstance(pos, (torch.Tensor, np.ndarray)):
        return start + pos * 0
    return start


def sched_exp(start: Value, end: Value, pos: Pos) -> Value:
    """Geometric from `start` to `end` (`start * (end/start)**pos`); both non-zero, same sign."""
    return start * (end / start) ** pos


class Schedule:
    """A schedule from `start` to `end`: `self(pos)` evaluates `self.func(start, end, pos)`."""

    func: Callable[[Value, Value, Pos], Value] = staticmethod(sched_lin)

    def __init__(self, start: Value, end: Value) -> None:
        name = type(self).__name__
        self.start, self.end = _as_value(start, "start", name), _as_value(end, "end", name)

    def __call__(self, pos: Pos) -> Value:
        _check_pos(pos, self)
        return type(self).func(self.start, self.end, pos)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(start={_fmt(self.start)}, end={_fmt(self.end)})"


class SchedLin(Schedule):
    """Linear schedule from `start` to `end`."""

    func = staticmethod(sched_lin)


class SchedCos(Schedule):
    """Cosine schedule from `start` to `end`."""

    func = staticmethod(sched_cos)


class SchedNo(Schedule):
    """Constant schedule at `start`."""

    func = staticmethod(sched_no)

    def __init__(self, start: Value, end: Value | None = None) -> None:
        super().__init__(start, start if end is None else end)

    def __repr__(self) -> str:
        return f"SchedNo(start={_fmt(self.start)})"


class SchedExp(Schedule):
    """Exponential (geometric) schedule from `start` to `end`, both non-zero and of the same sign."""

    func = staticmethod(sched_exp)

    def __init__(self, start: Value, end: Value) -> None:
        super().__init__(start, end)
        s, e = np.asarray(torch.as_tensor(self.start).cpu()), np.asarray(torch.as_tensor(self.end).cpu())
        if not np.all(s * e > 0):
            raise ValueError(f"SchedExp: start and end must be non-zero and of the same sign, got {self!r}")


class SchedPoly(Schedule):
    """Polynomial schedule `start + (end - start) * pos**power` (power > 0)."""

    def __init__(self, start: Value, end: Value, power: float) -> None:
        if isinstance(power, bool) or not isinstance(power, (int, float)) or not power > 0:
            raise ValueError(f"SchedPoly: power must be a positive number, got {power!r}")
        super().__init__(start, end)
        self.power = power

    def __call__(self, pos: Pos) -> Value:
        _check_pos(pos, self)
        return self.start + (self.end - self.start) * pos**self.power

    def __repr__(self) -> str:
        return f"SchedPoly(start={_fmt(self.start)}, end={_fmt(self.end)}, power={self.power:g})"


class CombinedSchedule:
    """Schedules run one after the other, each over its share `pct` of training."""

    def __init__(self, pcts: Sequence[float], scheds: Sequence[Callable[[Pos], Value]]) -> None:
        pcts, scheds = list(pcts), list(scheds)
        if len(pcts) != len(scheds) or not pcts:
            raise ValueError(f"combine_scheds: {len(pcts)} percentages for {len(scheds)} schedules")
        bad = [p for p in pcts if not isinstance(p, (int, float, np.generic)) or not p >= 0]
        if bad:
            raise ValueError(f"combine_scheds: percentages must be non-negative numbers, got {pcts}")
        if not math.isclose(sum(pcts), 1.0, abs_tol=1e-6):
            raise ValueError(f"combine_scheds: percentages must sum to 1, got {pcts} (sum {sum(pcts):g})")
        for s in scheds:
            if not callable(s):
                raise TypeError(
                    f"combine_scheds: each schedule must be callable f(pos), got {type(s).__name__}"
                )
        self.pcts, self.scheds = [float(p) for p in pcts], scheds
        starts = np.concatenate([[0.0], np.cumsum(self.pcts)[:-1]])
        # Zero-width phases never run; the others keep their start and width.
        self._phases = [(float(st), p, s) for st, p, s in zip(starts, self.pcts, scheds) if p > 0]

    def _phase(self, pos: float) -> int:
        """The last phase started at `pos`; a start within rounding error (1e-12) counts as reached."""
        idx = 0
        for i, (start, _, _) in enumerate(self._phases):
            if pos >= start - 1e-12:
                idx = i
        return idx

    def _inner(self, pos: float) -> float:
        start, width, _ = self._phases[self._phase(pos)]
        return min(max((pos - start) / width, 0.0), 1.0)

    def __call__(self, pos: Pos) -> Value:
        _check_pos(pos, "combine_scheds")
        if isinstance(pos, (torch.Tensor, np.ndarray)):
            return self._call_many(pos)
        i = self._phase(pos)
        return self._phases[i][2](self._inner(pos))

    def _call_many(self, pos: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        """Element-wise evaluation for an array of positions; per-group values add trailing dimensions."""
        as_tensor = isinstance(pos, torch.Tensor)
        flat = (pos.detach().cpu() if as_tensor else torch.as_tensor(pos)).double().reshape(-1).tolist()
        values = [self(p) for p in flat]
        values = [
            np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v, dtype=float) for v in values
        ]
        out = np.stack(values).reshape(tuple(pos.shape) + values[0].shape)
        return (
            torch.as_tensor(out, dtype=pos.dtype if pos.is_floating_point() else None) if as_tensor else out
        )

    def __repr__(self) -> str:
        pcts = ", ".join(f"{p:g}" for p in self.pcts)
        return f"combine_scheds([{pcts}], [{', '.join(repr(s) for s in self.scheds)}])"


def combine_scheds(pcts: Sequence[float], scheds: Sequence[Callable[[Pos], Value]]) -> CombinedSchedule:
    """Run `scheds[i]` over the fraction `pcts[i]` of training (`pcts` sum to 1), each from pos 0 to 1.

    At a boundary the later schedule applies (at its position 0); phases of width 0 are skipped.
    """
    return CombinedSchedule(pcts, scheds)


def combined_cos(pct: float, start: Value, middle: Value, end: Value) -> CombinedSchedule:
    """Cosine from `start` to `middle` over the first `pct` of training, then cosine to `end`."""
    if not isinstance(pct, (int, float)) or not 0 <= pct <= 1:
        raise ValueError(f"combined_cos: pct must lie in [0, 1], got {pct!r}")
    return combine_scheds([pct, 1 - pct], [SchedCos(start, middle), SchedCos(middle, end)])
