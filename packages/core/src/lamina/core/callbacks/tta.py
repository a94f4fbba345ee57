"""`learn.tta()`: test-time augmentation: predictions averaged over augmented passes, blended with the
plain prediction."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from lamina.core.basics.meta import patch
from lamina.core.learner.learner import Learner
from lamina.core.learner.preds import in_dataset_order
from lamina.core.pipeline import Pipeline

__all__ = ["tta_loader"]


def _with_added(pipe: Any, tfms: Any, hook: str) -> Pipeline:
    if not isinstance(pipe, Pipeline):
        raise TypeError(
            f"Learner.tta: {hook}_tfms need a loader whose `{hook}` is a Pipeline (a TfmdDL, e.g. from a "
            f"DataBlock or Datasets); this one has {type(pipe).__name__}"
        )
    new = Pipeline(list(pipe.fs), split_idx=pipe.split_idx)
    new.add(tfms)
    return new


def tta_loader(dl: Any, item_tfms: Any = None, batch_tfms: Any = None) -> Any:
    """`dl` in dataset order (no shuffling, no dropped batch), with `item_tfms` added to its `after_item`
    pipeline and `batch_tfms` to its `after_batch` pipeline (the loader's own transforms, e.g. its
    normalisation, are kept)."""
    if not callable(getattr(dl, "new", None)) or not hasattr(dl, "drop_last"):
        if item_tfms is not None or batch_tfms is not None:
            raise TypeError(
                "Learner.tta: item_tfms/batch_tfms need a lamina loader (with `new`), got "
                f"{type(dl).__name__}"
            )
        return in_dataset_order(dl)
    changes: dict[str, Any] = {"shuffle": False, "drop_last": False}
    if item_tfms is not None:
        changes["after_item"] = _with_added(dl.after_item, item_tfms, "item")
    if batch_tfms is not None:
        changes["after_batch"] = _with_added(dl.after_batch, batch_tfms, "batch")
    return dl.new(**changes)


@contextlib.contextmanager
def _split(dl: Any, split_idx: int) -> Iterator[None]:
    """Run `dl`'s transforms as for split `split_idx` (0: training, with augmentations) in the block:
    through `dataset.set_split_idx` (a `Datasets`) or the split of `dataset.tfms` (a `TfmdLists`)."""
    dataset = getattr(dl, "dataset", None)
    setter = getattr(dataset, "set_split_idx", None)
    if setter is not None:
        with setter(split_idx):
            yield
        return
    pipe = getattr(dataset, "tfms", None)
    if not isinstance(pipe, Pipeline):
        yield
        return
    old, pipe.split_idx = pipe.split_idx, split_idx
    try:
        yield
    finally:
        pipe.split_idx = old


@patch
def tta(
    self: Learner,
    ds_idx: int = 1,
    dl: Any = None,
    n: int = 4,
    item_tfms: Any = None,
    batch_tfms: Any = None,
    beta: float | None = 0.25,
    use_max: bool = False,
) -> tuple[torch.Tensor, Any]:
    """Test-time augmentation on a loader (default: the validation set, `ds_idx=1`): `n` passes with
    the *training* transforms (random augmentations on), averaged (`use_max`: their element-wise max),
    and one plain pass with the validation transforms; returns `(preds, targets)` in dataset order.

    `preds = lerp(augmented, plain, beta)` = `beta * plain + (1 - beta) * augmented`; `beta=None`
    returns `((augmented, plain), targets)`; `use_max` returns the max of the augmented and the plain
    predictions. `item_tfms`/`batch_tfms` are added to the loader's own transforms for the passes
    (give them `split_idx=0` to augment only the `n` passes). Augmentations come from the dataset's
    training-split transforms (a `Datasets`/`TfmdLists` with `set_split_idx`); with a loader that has
    none and no added transforms, the `n` passes equal the plain one. Predictions have the loss
    function's activation applied, as `get_preds` gives them.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"Learner.tta: n must be a positive number of augmented passes, got {n!r}")
    if beta is not None and not 0.0 <= beta <= 1.0:
        raise ValueError(f"Learner.tta: beta must be in [0, 1] or None, got {beta!r}")
    base = self._loader(ds_idx, dl)
    loader = tta_loader(base, item_tfms=item_tfms, batch_tfms=batch_tfms)
    passes = []
    with self.no_bar(), _split(loader, 0):
        for _ in range(n):
            preds, _targets = self.get_preds(dl=loader, reorder=False)
            passes.append(preds)
    augmented = torch.stack(passes).amax(0) if use_max else torch.stack(passes).mean(0)
    with self.no_bar(), _split(loader, 1):
        plain, targets = self.get_preds(dl=loader, reorder=False)
    if use_max:
        return torch.maximum(augmented, plain), targets
    if beta is None:
        return (augmented, plain), targets
    return torch.lerp(augmented, plain, beta), targets
