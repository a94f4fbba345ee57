"""What every Lamina optimizer shares: per-group hyper-parameters and freezing of parameter groups."""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import torch

__all__ = ["OptimizerBase", "spread_hyper"]


def _plain(value: Any) -> Any:
    """A numpy or 0-d tensor number as a Python number, so state dicts hold plain data."""
    if isinstance(value, numbers.Number) and type(value) not in (bool, int, float):
        return value.item() if hasattr(value, "item") else float(value)
    if isinstance(value, torch.Tensor) and value.ndim == 0:
        return value.item()
    return value


def _is_per_group(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return True
    return getattr(value, "ndim", 0) > 0  # a numpy array or a tensor with one value per group


def spread_hyper(key: str, value: Any, n_groups: int) -> list[Any]:
    """One value of hyper-parameter `key` per group.

    `value` is a scalar (same for every group), a list/tuple (one per group), `slice(a, b)` (geometric
    spread from `a` for the first group to `b` for the last) or `slice(b)` (`b` for the last group,
    `b/10` for the others).
    """
    if isinstance(value, slice):
        start, stop = value.start, value.stop
        if stop is None or value.step is not None:
            raise ValueError(f"set_hyper({key!r}): use slice(a, b) or slice(b), got {value}")
        if not start:
            return [stop / 10] * (n_groups - 1) + [stop]
        if n_groups == 1:
            return [stop]
        if start <= 0 or stop <= 0:
            raise ValueError(f"set_hyper({key!r}): a geometric spread needs positive bounds, got {value}")
        ratio = math.exp(math.log(stop / start) / (n_groups - 1))
        return [start * ratio**i for i in range(n_groups - 1)] + [stop]
    if _is_per_group(value):
        values = [_plain(v) for v in value]
        if len(values) == 1:
            return values * n_groups
        if len(values) != n_groups:
            raise ValueError(
                f"set_hyper({key!r}): got {len(values)} values for {n_groups} parameter groups; "
                "give one value, one per group, or a slice"
            )
        return values
    return [_plain(value)] * n_groups


class OptimizerBase:
    """Hyper-parameters per group (`set_hyper`) and freezing (`freeze_to`) over `param_lists`, `hypers`
    and `state`, which subclasses provide."""

    param_lists: list[list[torch.Tensor]]
    hypers: list[dict[str, Any]]
    state: dict[torch.Tensor, dict[str, Any]]
    frozen_idx: int = 0

    def set_hyper(self, key: str, value: Any) -> None:
        """Set hyper-parameter `key` in every group: a scalar, one value per group, or a slice."""
        for hyper, v in zip(self.hypers, spread_hyper(key, value, len(self.param_lists))):
            hyper[key] = v

    def set_hypers(self, **kwargs: Any) -> None:
        """`set_hyper` for each keyword."""
        for key, value in kwargs.items():
            self.set_hyper(key, value)

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """A `torch.optim`-style view: one dict per group with `'params'` and the hyper-parameters."""
        return [{"params": params, **hyper} for params, hyper in zip(self.param_lists, self.hypers)]

    def _force_train(self, p: torch.Tensor) -> bool:
        return p in self.state and bool(self.state[p].get("force_train", False))

    def freeze_to(self, n: int) -> None:
        """Stop training the groups before `n` (negative counts from the end); train the others.

        Parameters whose state has `force_train` keep training in frozen groups.
        """
        n_groups = len(self.param_lists)
        self.frozen_idx = n if n >= 0 else max(n_groups + n, 0)
        if self.frozen_idx >= n_groups:
            warnings.warn(
                f"freeze_to({n}): the optimizer has {n_groups} parameter groups; the whole model is frozen",
                stacklevel=2,
            )
        for i, params in enumerate(self.param_lists):
            train = i >= self.frozen_idx
            for p in params:
                p.requires_grad_(train or self._force_train(p))

    def freeze(self) -> None:
        """Train only the last group (and the `force_train` parameters): `freeze_to(-1)`."""
        self.freeze_to(-1)

    def unfreeze(self) -> None:
        """Train every group: `freeze_to(0)`."""
        self.freeze_to(0)
