"""Callbacks on the gradients: `GradientClip` (clip their norm before each step) and
`GradientAccumulation` (step once every `n_acc` samples, as one bigger batch would)."""

from __future__ import annotations

from typing import Any

import torch

from lamina.core.callbacks.backward_loss import restore_reported_loss, set_backward_loss
from lamina.core.learner.callback import Callback, CancelBatchException

__all__ = ["GradientClip", "GradientAccumulation", "batch_size_of"]


def batch_size_of(b: Any) -> int:
    """The number of items in a batch part (the first dimension of its first tensor)."""
    if isinstance(b, torch.Tensor):
        return int(b.shape[0]) if b.ndim else 1
    if isinstance(b, dict):
        b = list(b.values())
    if isinstance(b, (tuple, list)) and b:
        return batch_size_of(b[0])
    raise TypeError(f"cannot tell the batch size of a {type(b).__name__}; expected tensors")


def _trained_params(opt: Any) -> list[torch.Tensor]:
    return [p for group in opt.param_lists for p in group if p.grad is not None]


class GradientClip(Callback):
    """Before each optimizer step, scale the gradients so their total `norm_type`-norm is at most
    `max_norm` (`torch.nn.utils.clip_grad_norm_`, multi-tensor, no host read).

    Runs after `MixedPrecision` has unscaled fp16 gradients (order 11) and only on batches that step
    (after `GradientAccumulation` decided). `last_norm` holds the total norm before clipping, as a
    tensor on the device (reading it is a host sync, so the callback never does).
    """

    order = 11
    run_valid = False

    def __init__(self, max_norm: float = 1.0, norm_type: float = 2.0) -> None:
        if not max_norm > 0:
            raise ValueError(f"GradientClip: max_norm must be positive, got {max_norm!r}")
        self.max_norm, self.norm_type = float(max_norm), float(norm_type)
        self.last_norm: torch.Tensor | None = None

    def before_step(self) -> None:
        params = _trained_params(self.learn.opt)
        if params:
            self.last_norm = torch.nn.utils.clip_grad_norm_(params, self.max_norm, self.norm_type)

    def __repr__(self) -> str:
        return f"GradientClip(max_norm={self.max_norm}, norm_type={self.norm_type})"


class GradientAccumulation(Callback):
    """Accumulate gradients over batches and step once at least `n_acc` samples (items, not batches)
    have been seen, so small batches train like batches of `n_acc`.

    Each batch's loss is multiplied by `bs / n_acc` for the backward pass only (the recorded loss is
    the true one), so with a loss that is a mean over the batch the accumulated gradient is the mean
    over the `n_acc` samples: the same as one batch of `n_acc`. Batches that do not step raise
    `CancelBatchException` in `before_step`, which skips the step and the zeroing of the gradients.
    Gradients of an unfinished accumulation are dropped at the start and the end of a fit. Batch norm
    layers still see the small batches, so a model with them does not match the bigger batch exactly.
    """

    order = 6
    run_valid = False

    def __init__(self, n_acc: int = 32) -> None:
        if isinstance(n_acc, bool) or not isinstance(n_acc, int) or n_acc < 1:
            raise ValueError(
                f"GradientAccumulation: n_acc must be a positive number of samples, got {n_acc!r}"
            )
        self.n_acc = n_acc
        self.count = 0  # samples since the last step
        self.steps = 0  # optimizer steps in this fit
        self._bs = 0

    def _drop_partial(self) -> None:
        opt = self.learn.opt
        if opt is not None:
            opt.zero_grad()
        self.count = 0

    def before_fit(self) -> None:
        if self.learn.in_fit:
            self._drop_partial()
            self.steps = 0

    def before_backward(self) -> None:
        bs = batch_size_of(self.learn.yb or self.learn.xb)
        self._bs = bs
        set_backward_loss(self.learn, self.learn.loss * (bs / self.n_acc))

    def after_backward(self) -> None:
        restore_reported_loss(self.learn)

    def after_cancel_backward(self) -> None:
        restore_reported_loss(self.learn)

    def before_step(self) -> None:
        self.count += self._bs
        if self.count < self.n_acc:
            raise CancelBatchException()  # no step, and the gradients stay for the next batch
        self.count = 0
        self.steps += 1

    def after_fit(self) -> None:
        if self.learn.in_fit and self.count:
            self._drop_partial()

    def __repr__(self) -> str:
        return f"GradientAccumulation(n_acc={self.n_acc})"
