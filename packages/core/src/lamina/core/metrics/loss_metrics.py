"""Metrics read from the loss: perplexity and the parts a loss function records about itself."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from lamina.core.metrics.base import AvgLoss, AvgMetric, _accumulator_dtype, _batch_size, _to_python

__all__ = ["Perplexity", "LossMetric", "LossMetrics"]


class Perplexity(AvgLoss):
    """`exp` of the batch-size-weighted mean loss (the loss being a cross-entropy)."""

    @property
    def value(self) -> Any:
        if self.count == 0:
            return None
        return _to_python(torch.exp(torch.as_tensor(self.total / self.count)))

    @property
    def name(self) -> str:
        return "perplexity"


class LossMetric(AvgMetric):
    """Batch-size-weighted mean of `learn.loss_func.<attr>`, a value the loss stores on each call.

    Lets a loss made of several terms report each one (e.g. `LossMetric("bbox_loss")`).
    """

    def __init__(self, attr: str, nm: str | None = None) -> None:
        if not isinstance(attr, str) or not attr:
            raise TypeError(f"LossMetric: attr must be a non-empty attribute name, got {attr!r}")
        self.attr, self.nm = attr, nm
        self.reset()

    def accumulate(self, learn: Any) -> None:
        loss_func = learn.loss_func
        if not hasattr(loss_func, self.attr):
            raise AttributeError(
                f"LossMetric({self.attr!r}): the loss function {type(loss_func).__name__} has no attribute "
                f"{self.attr!r}; it must store that value each time it is called"
            )
        val = getattr(loss_func, self.attr)
        if isinstance(val, torch.Tensor):
            val = val.detach().to(_accumulator_dtype(val)).mean()
        bs = _batch_size(learn.yb, self.name)
        self.total = self.total + val * bs
        self.count += bs

    @property
    def name(self) -> str:
        return self.attr if self.nm is None else self.nm

    def __repr__(self) -> str:
        return f"LossMetric({self.attr!r}, nm={self.nm!r})"


def LossMetrics(attrs: str | Sequence[str], nms: str | Sequence[str] | None = None) -> list[LossMetric]:
    """One `LossMetric` per attribute; `attrs` and `nms` may be comma-separated strings."""
    attrs = [a.strip() for a in attrs.split(",")] if isinstance(attrs, str) else list(attrs)
    if nms is None:
        nms = [None] * len(attrs)
    else:
        nms = [n.strip() for n in nms.split(",")] if isinstance(nms, str) else list(nms)
    if len(nms) != len(attrs):
        raise ValueError(f"LossMetrics: {len(attrs)} attributes but {len(nms)} names")
    return [LossMetric(a, n) for a, n in zip(attrs, nms)]
