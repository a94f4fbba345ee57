"""What `Learner.get_preds` needs: a callback gathering predictions, targets, inputs and per-item losses,
a loader in dataset order (unshuffled, and its own reordering of the items undone afterwards), and the loss
function switched to per-item losses."""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import RandomSampler

from lamina.core.learner.callback import Callback

__all__ = [
    "GatherPredsCallback",
    "concat_batches",
    "in_dataset_order",
    "loader_order",
    "with_fixed_order",
    "to_dataset_order",
    "loader_pad_index",
    "loss_not_reduced",
]


def _detach_cpu(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    if isinstance(x, (tuple, list)):
        return type(x)(_detach_cpu(o) for o in x)
    if isinstance(x, dict):
        return {k: _detach_cpu(v) for k, v in x.items()}
    return x


def _padded(t: torch.Tensor, trailing: Sequence[int], pad_value: float) -> torch.Tensor:
    """`t` grown to `(len(t), *trailing)`, the new positions (at the end of each dimension) `pad_value`."""
    if tuple(t.shape[1:]) == tuple(trailing):
        return t
    out = t.new_full((t.shape[0], *trailing), pad_value)
    out[tuple(slice(0, n) for n in t.shape)] = t
    return out


def _concat_tensors(batches: list[torch.Tensor], pad_value: float, what: str) -> torch.Tensor:
    parts = [b.reshape(1) if b.ndim == 0 else b for b in batches]
    if len({p.ndim for p in parts}) > 1:
        shapes = [tuple(p.shape) for p in parts]
        raise ValueError(
            f"concat_batches: the {what} of the batches have different numbers of dimensions ({shapes[:6]}"
            f"{', ...' if len(shapes) > 6 else ''}), so they cannot be padded to one shape and joined"
        )
    trailing = [max(p.shape[d] for p in parts) for d in range(1, parts[0].ndim)]
    return torch.cat([_padded(p, trailing, pad_value) for p in parts])


def concat_batches(batches: list[Any], pad_value: float = 0, what: str = "results") -> Any:
    """Join per-batch results along the first dimension, through tuples, lists and dicts.

    Tensors whose other dimensions differ from batch to batch (inputs padded to each batch's longest
    sequence, predictions of different lengths) are padded at the end of those dimensions with `pad_value`
    up to the longest, then joined. Tensors with different numbers of dimensions raise a `ValueError`
    (naming `what` is joined). Other values are joined into one flat list."""
    if not batches:
        return None
    first = batches[0]
    if isinstance(first, torch.Tensor):
        return _concat_tensors(batches, pad_value, what)
    if isinstance(first, (tuple, list)):
        return type(first)(
            concat_batches([b[i] for b in batches], pad_value, f"{what}[{i}]") for i in range(len(first))
        )
    if isinstance(first, dict):
        return {k: concat_batches([b[k] for b in batches], pad_value, f"{what}[{k!r}]") for k in first}
    return [o for b in batches for o in (b if isinstance(b, (list, tuple)) else [b])]


def loader_pad_index(dl: Any) -> int | None:
    """The padding index of a loader that pads its batches: its own `pad_idx`, else that of a transform of
    its `before_batch` pipeline (e.g. a text loader's padding transform); None when it has none."""
    own = getattr(dl, "pad_idx", None)
    if isinstance(own, int) and not isinstance(own, bool):
        return own
    for t in getattr(getattr(dl, "before_batch", None), "fs", ()):
        value = getattr(t, "pad_idx", None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


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
        self._pad_idx = loader_pad_index(getattr(self.learn, "dl", None))

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
        """`(inputs, preds, targets, losses)`, each joined over the batches (None when not gathered).

        Batches of different lengths are padded to the longest (`concat_batches`): inputs and targets with
        the loader's padding index when it has one (`loader_pad_index`, e.g. a text loader's), else 0;
        predictions and losses with 0."""
        pad = getattr(self, "_pad_idx", None)
        pad = 0 if pad is None else pad
        return (
            concat_batches(self._inputs, pad, "inputs"),
            concat_batches(self._preds, 0, "predictions"),
            concat_batches(self._targets, pad, "targets"),
            concat_batches(self._losses, 0, "losses"),
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


class _FixedOrder:
    """A `get_idxs` hook that gives the same samples every epoch (picklable, for worker processes)."""

    def __init__(self, order: Sequence[int]) -> None:
        self.order = list(order)

    def __call__(self) -> list[int]:
        return list(self.order)


def loader_order(dl: Any) -> list[int] | None:
    """The order in which `dl` reads its items when it reorders them (a loader whose `get_idxs()` gives a
    permutation even unshuffled, e.g. one that sorts items by length); None when it reads them in dataset
    order or does not say (no `get_idxs`, a stream, or samples that are not a sequence of indices)."""
    get_idxs = getattr(dl, "get_idxs", None)
    if not callable(get_idxs) or getattr(dl, "indexed", True) is False:
        return None
    idxs = get_idxs()
    if isinstance(idxs, range):
        return None if idxs == range(len(idxs)) else list(idxs)
    if isinstance(idxs, (torch.Tensor, np.ndarray)):
        idxs = idxs.tolist()
    if not isinstance(idxs, (list, tuple)):
        return None
    if not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in idxs):
        return None
    order = [int(i) for i in idxs]
    return None if order == list(range(len(order))) else order


def with_fixed_order(dl: Any, order: Sequence[int]) -> Any:
    """A copy of `dl` that reads its items in `order` (`dl.new(get_idxs=...)`), so the order recorded by
    `loader_order` is the one the pass follows. A loader that cannot be copied so (no `new`, or one that
    takes no `get_idxs`) is used as it is when it does not shuffle (it gives the same order again); a
    shuffling one raises a `ValueError`."""
    new = getattr(dl, "new", None)
    if callable(new):
        try:
            return new(get_idxs=_FixedOrder(order))
        except TypeError:
            pass
    if getattr(dl, "shuffle", False):
        raise ValueError(
            f"get_preds(reorder=True): the {type(dl).__name__} shuffles its items and cannot be copied "
            "with a fixed order (`new(get_idxs=...)`), so its results cannot be put back in dataset order; "
            "pass an unshuffled loader or reorder=False"
        )
    return dl


def _leading_size(x: Any) -> int | None:
    if isinstance(x, torch.Tensor):
        return x.shape[0] if x.ndim > 0 else None
    if isinstance(x, (tuple, list)):
        return next((n for n in map(_leading_size, x) if n is not None), None)
    if isinstance(x, dict):
        return next((n for n in map(_leading_size, x.values()) if n is not None), None)
    return None


def _take(x: Any, back: torch.Tensor, n: int) -> Any:
    if isinstance(x, torch.Tensor):
        return x[back] if x.ndim > 0 and x.shape[0] == n else x
    if isinstance(x, dict):
        return {k: _take(v, back, n) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        if isinstance(x, list) and len(x) == n and not any(isinstance(o, torch.Tensor) for o in x):
            return [x[i] for i in back.tolist()]  # a flat list of per-item values (concat_batches)
        return type(x)(_take(o, back, n) for o in x)
    return x


def to_dataset_order(results: Sequence[Any], order: Sequence[int], n: int | None = None) -> tuple[Any, ...]:
    """`results` (inputs, predictions, targets, losses, ... gathered in the loader's `order`) put back in
    dataset order: the rows of every tensor (and per-item list) of `n` rows (default: the predictions'
    count, found in the first result that has one) are sorted by the index of the item they belong to.
    With fewer rows than `order` (a dropped last batch), the first `n` of `order` are the items read."""
    if n is None:
        n = next((k for k in map(_leading_size, results) if k is not None), None)
    if n is None or n == 0:
        return tuple(results)
    if n > len(order):
        warnings.warn(
            f"get_preds(reorder=True): the loader gave {n} items but its get_idxs() lists {len(order)}; the "
            "results are left in the loader's order",
            UserWarning,
            stacklevel=3,
        )
        return tuple(results)
    back = torch.argsort(torch.tensor(list(order[:n])), stable=True)
    return tuple(_take(r, back, n) for r in results)


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
