"""Blocks: the transforms (and defaults) that make one part of a sample, for `DataBlock`.

A block bundles the type transforms that turn a raw value into that part (`type_tfms`), the item and
batch transforms it needs (`item_tfms`, `batch_tfms`; `ToTensor` is always among the item transforms),
an optional data loader class and keyword arguments, and, for a target, the default loss (`loss_func`)
that `DataBlock.dataloaders` exposes as `dls.loss_func`. Domains add blocks (`ImageBlock`, `TextBlock`)
through the `blocks` registry.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lamina.core.basics.collections import L
from lamina.core.data.transforms import (
    Categorize,
    EncodedMultiCategorize,
    MultiCategorize,
    OneHotEncode,
    RegressionSetup,
    ToTensor,
)
from lamina.core.losses import BCEWithLogitsLossFlat, CrossEntropyLossFlat, MSELossFlat
from lamina.core.plugins.registry import register_class
from lamina.core.transform import Transform

__all__ = [
    "tfm_name",
    "TransformBlock",
    "CategoryBlock",
    "MultiCategoryBlock",
    "RegressionBlock",
    "CORE_BLOCKS",
]


def tfm_name(t: Any) -> str:
    """A short name for a transform, a transform class or a function (no parameters shown)."""
    if t is None:
        return "None"
    if isinstance(t, type):
        return t.__name__
    if isinstance(t, Transform):
        return t.name.split(" --")[0]
    return getattr(t, "__qualname__", None) or getattr(t, "__name__", None) or type(t).__name__


@register_class("lamina.core.TransformBlock")
class TransformBlock:
    """One part of a sample: its type transforms, item and batch transforms, loader class and kwargs,
    and (for a target) its default loss.

    Each transform argument is a transform, a transform class, a function, or a list of those.
    """

    def __init__(
        self,
        type_tfms: Any = None,
        item_tfms: Any = None,
        batch_tfms: Any = None,
        dl_type: type | None = None,
        dls_kwargs: dict | None = None,
        loss_func: Any = None,
    ):
        self.type_tfms = L(type_tfms)
        self.item_tfms = L(ToTensor) + L(item_tfms)
        self.batch_tfms = L(batch_tfms)
        if dl_type is not None and not isinstance(dl_type, type):
            raise TypeError(f"TransformBlock(dl_type=...) must be a data loader class, got {dl_type!r}")
        if dls_kwargs is not None and not isinstance(dls_kwargs, dict):
            raise TypeError(f"TransformBlock(dls_kwargs=...) must be a dict, got {type(dls_kwargs).__name__}")
        self.dl_type, self.dls_kwargs, self.loss_func = dl_type, dict(dls_kwargs or {}), loss_func

    def __repr__(self) -> str:
        def names(tfms: L) -> str:
            return "[" + ", ".join(map(tfm_name, tfms)) + "]"

        loss = "" if self.loss_func is None else f", loss_func={type(self.loss_func).__name__}"
        return (
            f"{type(self).__name__}(type_tfms={names(self.type_tfms)}, item_tfms={names(self.item_tfms)}, "
            f"batch_tfms={names(self.batch_tfms)}{loss})"
        )


def CategoryBlock(vocab: Iterable | None = None, sort: bool = True, add_na: bool = False) -> TransformBlock:
    """A single-label target: `Categorize(vocab, sort, add_na)`; default loss `CrossEntropyLossFlat`."""
    return TransformBlock(
        type_tfms=Categorize(vocab=vocab, sort=sort, add_na=add_na), loss_func=CrossEntropyLossFlat()
    )


def MultiCategoryBlock(
    encoded: bool = False, vocab: Iterable | None = None, add_na: bool = False
) -> TransformBlock:
    """A multi-label target, from lists of labels (`MultiCategorize` + `OneHotEncode`) or, with `encoded`,
    from one-hot rows (`EncodedMultiCategorize(vocab)`); default loss `BCEWithLogitsLossFlat`."""
    if encoded:
        tfms: list = [EncodedMultiCategorize(vocab)]
    else:
        tfms = [MultiCategorize(vocab=vocab, add_na=add_na), OneHotEncode()]
    return TransformBlock(type_tfms=tfms, loss_func=BCEWithLogitsLossFlat())


def RegressionBlock(n_out: int | None = None) -> TransformBlock:
    """A float target (a number or a vector of `n_out` numbers): `RegressionSetup`; default loss
    `MSELossFlat`."""
    return TransformBlock(type_tfms=RegressionSetup(c=n_out), loss_func=MSELossFlat())


CORE_BLOCKS: dict[str, Any] = {
    "TransformBlock": TransformBlock,
    "CategoryBlock": CategoryBlock,
    "MultiCategoryBlock": MultiCategoryBlock,
    "RegressionBlock": RegressionBlock,
}
