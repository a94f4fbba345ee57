"""Changing the loss that the backward pass uses while the learner keeps reporting the true loss.

The Learner runs `learn.loss.backward()`, and the `Recorder`, the progress bar and the trackers read
`learn.loss` after the batch. A callback that only wants to change the *gradients* (loss scaling for
fp16, dividing by the number of accumulated batches) calls `set_backward_loss(learn, new)` in
`before_backward`; every such callback calls `restore_reported_loss(learn)` in `after_backward` and
`after_cancel_backward`. The first restore puts the true loss back whatever order the callbacks run in,
the later ones do nothing, so several of them compose (their factors multiply).
"""

from __future__ import annotations

import weakref
from typing import Any

import torch

__all__ = ["set_backward_loss", "restore_reported_loss", "reported_loss"]

# learner -> (the loss the loop computed, the replacement last set), while a callback has replaced it
_SWAPS: weakref.WeakKeyDictionary[Any, tuple[Any, torch.Tensor]] = weakref.WeakKeyDictionary()


def _current_swap(learn: Any) -> tuple[Any, torch.Tensor] | None:
    swap = _SWAPS.get(learn)
    if swap is not None and swap[1] is not learn.loss:  # left over from a batch that failed: forget it
        del _SWAPS[learn]
        return None
    return swap


def set_backward_loss(learn: Any, new_loss: torch.Tensor) -> None:
    """Make `new_loss` the tensor the backward pass uses, remembering the true loss (the first time in
    this batch) so `restore_reported_loss` can put it back."""
    swap = _current_swap(learn)
    _SWAPS[learn] = (learn.loss if swap is None else swap[0], new_loss)
    learn.loss = new_loss


def restore_reported_loss(learn: Any) -> None:
    """Put back the loss the loop computed, if a callback replaced it (does nothing otherwise)."""
    swap = _current_swap(learn)
    if swap is not None:
        del _SWAPS[learn]
        learn.loss = swap[0]


def reported_loss(learn: Any) -> Any:
    """The true loss of the current batch (also while a replacement for the backward pass is set)."""
    swap = _current_swap(learn)
    return learn.loss if swap is None else swap[0]
