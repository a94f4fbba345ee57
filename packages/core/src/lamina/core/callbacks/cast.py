"""`CastToTensor`: every tensor of the batch a plain `torch.Tensor` before the model sees it.

The Learner already does this when it moves a batch to the device (`lamina.core.tensors.as_plain`,
the same function used here): semantic types serve transforms and showing, plain tensors the hot
loop. `CastToTensor` repeats it after the other `before_batch` callbacks, for a callback that writes
typed tensors (e.g. a `TensorImage` from a batch augmentation) into `learn.xb`/`learn.yb`, so the
model, the loss and the metrics never see a subclass (whose `__torch_function__` costs time on every
op). Stripping shares the data: no copy.
"""

from __future__ import annotations

from typing import Any

import torch

from lamina.core.learner.callback import Callback
from lamina.core.tensors import as_plain

__all__ = ["CastToTensor"]


def _has_subclass(x: Any) -> bool:
    if isinstance(x, torch.Tensor):
        return type(x) is not torch.Tensor
    if isinstance(x, (tuple, list)):
        return any(_has_subclass(o) for o in x)
    if isinstance(x, dict):
        return any(_has_subclass(o) for o in x.values())
    return False


class CastToTensor(Callback):
    """Strip tensor subclasses from `learn.xb` and `learn.yb` at the end of `before_batch` (order 90),
    through tuples, lists and dicts (module docstring)."""

    order = 90

    def before_batch(self) -> None:
        learn = self.learn
        if _has_subclass(learn.xb):
            learn.xb = as_plain(learn.xb)
        if _has_subclass(learn.yb):
            learn.yb = as_plain(learn.yb)
