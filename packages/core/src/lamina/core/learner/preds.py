"""What `Learner.get_preds` needs: a callback gathering predictions, targets, inputs and per-item losses,
a loader in dataset order, and the loss function switched to per-item losses."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import RandomSampler

from lamina.core.learner.callback import Callback

__all__ = ["GatherPredsCallback", "concat_batches", "in_dataset_order", "loss_not_reduced"]


def _detach_cpu(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    if isinstance(x, (tuple, list)):
        return type(x)(_detach_cpu(o) for o in x)
    if isinstance(x, dict):
        return {k: _detach_cpu(v) for k, v in x.items()}
    return x


def concat_batches(batches: list[Any]) -> Any:
    """Join per-batch results along the first dimension, through tuples, lists and dicts."""
    if not batches:
        return None
    first = batches[0]
    if isinstance(first, torch.Tensor):
        return torch.cat([b.reshape(1) if b.ndim == 0 else b for b in batches])
    if isinstance(first, (tuple, list)):
        return type(first)(concat_batches([b[i] for b in batches]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: concat_batches([b[k] for b in batches]) for k in first}
    return [o for b in batches for o in (b if isinstance(b, (list, tuple)) else [b])]


class GatherPredsCallback(Callback):
    """Keeps every validation batch's predictions and targets (and inputs / per-item losses when
    asked), detached and on the CPU; `results()` joins them."""

    run_train = False

    def __init__(self, with_input: bool = False, with_loss: bool = False) -> None:
        self.with_input, self.with_loss = with_input, with_loss
        self._reset()

    def _reset(self) -> None:
        self._inputs: list[Any] = []
        self._preds: list[Any] = []
        self._targets: list[Any] = []
        self._losses: list[Any] = []

    def before_validate(self) -> None:
        self._reset()

    def after_batch(self) -> None:
        learn = self.learn
        if learn.pred is None:
            return
        self._preds.append(_detach_cpu(learn.pred))
        yb = learn.yb
        if yb:
            self._targets.append(_detach_cpu(yb[0] if len(yb) == 1 else yb))
        if self.with_input:
            xb = learn.xb
            self._inputs.append(_detach_cpu(xb[0] if len(xb) == 1 else xb))
        if self.with_loss and learn.loss is not None:
            loss = learn.loss
            if not isinstance(loss, torch.Tensor) or loss.ndim == 0:
                raise ValueError(
                    "get_preds(with_loss=True): the loss function returned one value for the whole batch; it "
                    "must give one loss per item with reduction='none'"
                )
            self._losses.append(loss.detach().cpu())

    def results(self) -> tuple[Any, Any, Any, Any]:
        """`(inputs, preds, targets, losses)`, each joined over the batches (None when not gathered)."""
        return (
            concat_batches(self._inputs),
            concat_batches(self._preds),
            concat_batches(self._targets),
            concat_batches(self._losses),
        )


def in_dataset_order(dl: Any) -> Any:
    """`dl` itself, or an unshuffled copy when it shuffles: our `DataLoader` (`shuffle=True`) through
    `dl.new(shuffle=False, drop_last=False)`, a torch `DataLoader` with a `RandomSampler` rebuilt
    with the same dataset, batch size and collation. Other loaders are used as they are."""
    if getattr(dl, "shuffle", False) is True and callable(getattr(dl, "new", None)):
        return dl.new(shuffle=False, drop_last=False)
    if (
        isinstance(dl, TorchDataLoader)
        and isinstance(dl.sampler, RandomSampler)
        and dl.batch_size is not None
    ):
        return TorchDataLoader(
            dl.dataset,
            batch_size=dl.batch_size,
            shuffle=False,
            num_workers=dl.num_workers,
            collate_fn=dl.collate_fn,
            pin_memory=dl.pin_memory,
            worker_init_fn=dl.worker_init_fn,
            drop_last=False,
        )
    return dl


@contextmanager
def loss_not_reduced(learn: Any) -> Iterator[None]:
    """Make `learn.loss_func` return one loss per item for the block: set its `reduction` attribute to
    'none', or pass `reduction='none'` to a function that takes that argument."""
    loss_func = learn.loss_func
    if hasattr(loss_func, "reduction"):
        old = loss_func.reduction
        loss_func.reduction = "none"
        try:
            yield
        finally:
            loss_func.reduction = old
        return
    try:
        takes_reduction = "reduction" in inspect.signature(loss_func).parameters
    except (TypeError, ValueError):
        takes_reduction = False
    if not takes_reduction:
        name = getattr(loss_func, "__name__", type(loss_func).__name__)
        raise TypeError(
            f"get_preds(with_loss=True): the loss function {name} has no `reduction` attribute or argument, "
            "so it cannot give per-item losses"
        )
    learn.loss_func = functools.partial(loss_func, reduction="none")
    try:
        yield
    finally:
        learn.loss_func = loss_func
