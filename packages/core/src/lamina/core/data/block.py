"""`DataBlock`: a template that turns a source into `Datasets` and `DataLoaders`.

    dblock = DataBlock(blocks=(TransformBlock, CategoryBlock), get_items=get_files,
                       splitter=GrandparentSplitter(), get_y=parent_label)
    dls = dblock.dataloaders(path, bs=64)

Steps, for `dblock.datasets(source)`: `get_items(source)` lists the items (the source itself when there is
no `get_items`); `splitter(items)` splits them (default `RandomSplitter()`); each block gets one pipeline
made of its getter (`get_x` for the first `n_inp` blocks, `get_y` for the others, or `getters`) followed by
its type transforms. `dataloaders` adds the merged item transforms (`after_item`) and batch transforms
(`after_batch`) of the blocks and of the caller, the blocks' loader class and kwargs, and sets
`dls.loss_func` to the default loss of the first target block that has one.

A DataBlock is a template: each `datasets()` call works on fresh copies of the type transforms (and each
`dataloaders()` call on fresh copies of the item and batch transforms), so building twice, or on another
source, never reuses a vocabulary or statistics learned before. `summary(source)` walks one sample
through every step and names the step that fails.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from lamina.core.basics.collections import L
from lamina.core.basics.functional import is_listy
from lamina.core.data.blocks import CORE_BLOCKS, TransformBlock, tfm_name
from lamina.core.data.datasets import Datasets
from lamina.core.data.loaders import DataLoaders
from lamina.core.data.splitters import RandomSplitter
from lamina.core.data.tfmd_lists import with_context
from lamina.core.pipeline import Pipeline
from lamina.core.plugins.registry import register_class
from lamina.core.transform import ItemTransform, Transform

__all__ = ["DataBlock", "Getter", "merge_tfms"]


@register_class("lamina.core.Getter")
class Getter(ItemTransform):
    """A getter function as the first step of a block's pipeline: it sees the whole item (tuples too)
    and runs on every item whatever the function's annotations say."""

    def __init__(self, func: Callable[[Any], Any]):
        if not callable(func):
            raise TypeError(f"a getter must be callable, got {type(func).__name__}")
        super().__init__()
        self.func = func
        self.name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)

    def encodes(self, x):
        return self.func(x)


def _getter_steps(g: Any) -> list:
    """The transforms a getter stands for: none, a Pipeline's transforms, a Transform, or a function."""
    if g is None:
        return []
    if isinstance(g, Pipeline):
        return list(g.fs)
    if isinstance(g, Transform):
        return [g]
    return [Getter(g)]


def _merge_key(t: Any) -> Any:
    if isinstance(t, type):
        return t
    if isinstance(t, Transform) and type(t) is not Transform:
        return type(t)
    return id(t)


def merge_tfms(*tfm_lists: Any) -> L:
    """The transforms of every list, one per class (a later one replaces an earlier one of the same
    class, keeping its place); classes are instantiated. Functions are kept, each once."""
    merged: dict[Any, Any] = {}
    for tfms in tfm_lists:
        for t in L(tfms):
            merged[_merge_key(t)] = t
    return L([t() if isinstance(t, type) else t for t in merged.values()], use_list=True)


def _block(b: Any) -> TransformBlock:
    """A block instance from a block, a block factory (class or function) or a registered block name."""
    if isinstance(b, str):
        from lamina.core.plugins.registry import blocks as registered

        b = registered[b] if b in registered or b not in CORE_BLOCKS else CORE_BLOCKS[b]
    if isinstance(b, TransformBlock):
        return b
    if callable(b):
        made = b()
        if not isinstance(made, TransformBlock):
            raise TypeError(
                f"DataBlock: block factory {b!r} returned {type(made).__name__}, not a TransformBlock"
            )
        return made
    raise TypeError(f"DataBlock: a block must be a TransformBlock, a block factory or a name, got {b!r}")


def _fresh(tfms: Any) -> list:
    """Copies of the transform instances in `tfms`; classes, functions and getters (made fresh for each
    build, around the user's function) are kept as they are."""
    return [copy.deepcopy(t) if isinstance(t, Transform) and not isinstance(t, Getter) else t for t in tfms]


def _listed(x: Any) -> list:
    """Getters given as one getter or several (a list or tuple)."""
    return list(x) if isinstance(x, (list, tuple, L)) else [x]


def _preview(o: Any, limit: int = 60) -> str:
    text = " ".join(repr(o).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class DataBlock:
    """Blocks, getters, a splitter and transforms: the recipe for `Datasets` and `DataLoaders`.

    - `blocks`: one per part of a sample (inputs first), each a `TransformBlock`, a block factory
      (`CategoryBlock`) or a registered block name; default two `TransformBlock`s.
    - `n_inp`: how many blocks are inputs (default: all but the last).
    - `get_items(source) -> items`, `splitter(items) -> (train_idxs, valid_idxs)`, `get_x`/`get_y` (one
      getter, or a list with one per input/target block), or `getters` (one per block). Subclasses may
      define these as methods instead.
    - `item_tfms`/`batch_tfms`: added to (and replacing same-class transforms of) the blocks' defaults.
    - `dl_type`: the loader class (default: the last block's, else `TfmdDL`).
    """

    blocks: Sequence[Any] = (TransformBlock, TransformBlock)
    dl_type: type | None = None
    get_items: Callable | None = None
    splitter: Callable | None = None
    get_x: Any = None
    get_y: Any = None

    def __init__(
        self,
        blocks: Sequence[Any] | None = None,
        dl_type: type | None = None,
        getters: Sequence[Any] | None = None,
        n_inp: int | None = None,
        item_tfms: Any = None,
        batch_tfms: Any = None,
        get_items: Callable | None = None,
        splitter: Callable | None = None,
        get_y: Any = None,
        get_x: Any = None,
    ):
        given = self.blocks if blocks is None else blocks
        if not is_listy(given) or not len(given):
            raise ValueError(f"DataBlock(blocks=...) needs a list of blocks, got {given!r}")
        self.block_list = [_block(b) for b in given]
        for name, f in (("get_items", get_items), ("splitter", splitter)):
            if f is not None:
                if not callable(f):
                    raise TypeError(f"DataBlock({name}=...) must be callable, got {type(f).__name__}")
                setattr(self, name, f)
        n = len(self.block_list)
        self.n_inp = max(1, n - 1) if n_inp is None else n_inp
        if not isinstance(self.n_inp, int) or not 1 <= self.n_inp <= n:
            raise ValueError(f"DataBlock(n_inp={n_inp!r}): must be between 1 and the number of blocks ({n})")
        self.type_tfms = [L(b.type_tfms) for b in self.block_list]
        self.default_item_tfms = merge_tfms(*(b.item_tfms for b in self.block_list))
        self.default_batch_tfms = merge_tfms(*(b.batch_tfms for b in self.block_list))
        for b in self.block_list:
            if b.dl_type is not None:
                self.dl_type = b.dl_type
        if dl_type is not None:
            self.dl_type = dl_type
        self.dls_kwargs: dict[str, Any] = {}
        for b in self.block_list:
            self.dls_kwargs.update(b.dls_kwargs)
        self.loss_func = next(
            (b.loss_func for b in self.block_list[self.n_inp :] if b.loss_func is not None), None
        )
        self.getters = self._getters(getters, get_x, get_y)
        self.item_tfms, self.batch_tfms = self.default_item_tfms, self.default_batch_tfms
        self._set_tfms(item_tfms, batch_tfms)
        self.source: Any = None
        self._vocab: Any = None

    def _getters(self, getters: Any, get_x: Any, get_y: Any) -> list:
        n = len(self.block_list)
        if getters is not None:
            found = list(getters)
            if len(found) != n:
                raise ValueError(f"DataBlock: got {len(found)} getters for {n} blocks; give one per block")
        else:
            found = [None] * n
        get_x = self.get_x if get_x is None else get_x
        get_y = self.get_y if get_y is None else get_y
        hint = "wrap several steps for one block in a Pipeline"
        if get_x is not None:
            xs = _listed(get_x)
            if len(xs) != self.n_inp:
                raise ValueError(f"DataBlock: get_x has {len(xs)} getters for {self.n_inp} inputs; {hint}")
            found[: self.n_inp] = xs
        if get_y is not None:
            ys = _listed(get_y)
            if len(ys) != n - self.n_inp:
                raise ValueError(
                    f"DataBlock: get_y has {len(ys)} getters for {n - self.n_inp} targets; {hint}"
                )
            found[self.n_inp :] = ys
        return found

    def _set_tfms(self, item_tfms: Any, batch_tfms: Any) -> None:
        self.item_tfms = merge_tfms(self.default_item_tfms, item_tfms)
        self.batch_tfms = merge_tfms(self.default_batch_tfms, batch_tfms)

    def new(self, item_tfms: Any = None, batch_tfms: Any = None) -> DataBlock:
        """A copy of this DataBlock whose item/batch transforms are the blocks' defaults merged with these."""
        res = copy.copy(self)
        res._set_tfms(item_tfms, batch_tfms)
        return res

    # ---- building ------------------------------------------------------------------------------------
    def pipelines(self) -> list[list]:
        """Fresh pipelines, one per block: its getter steps, then its type transforms (transform
        instances are copied, so what they learn at setup stays with this build)."""
        return [_fresh(_getter_steps(g) + list(tt)) for g, tt in zip(self.getters, self.type_tfms)]

    def collect_items(self, source: Any) -> Any:
        """`get_items(source)` (the source itself without `get_items`), checked to be non-empty."""
        self.source = source
        items = self.get_items(source) if self.get_items is not None else source
        if items is None:
            raise ValueError(f"DataBlock: get_items returned None for source {_preview(source)}")
        if not hasattr(items, "__len__"):
            items = L(items, use_list=True)
        if len(items) == 0:
            found_by = (
                f"get_items ({tfm_name(self.get_items)})" if self.get_items is not None else "the source"
            )
            raise ValueError(f"DataBlock: no items: {found_by} gave nothing for {_preview(source)}")
        return items

    def split(self, items: Any) -> Any:
        """The splits of `items` by the splitter (default `RandomSplitter()`)."""
        splitter = self.splitter if self.splitter is not None else RandomSplitter()
        splits = splitter(items)
        if not is_listy(splits) or len(splits) < 1:
            raise TypeError(
                f"DataBlock: the splitter returned {_preview(splits)}, not (train_idxs, valid_idxs)"
            )
        return splits

    def datasets(self, source: Any, verbose: bool = False) -> Any:
        """The `Datasets` of `source`: items found, split, and one set-up pipeline per block."""
        if verbose:
            print(f"Collecting items from {_preview(source)}")
        items = self.collect_items(source)
        if verbose:
            print(f"Found {len(items)} items")
        splits = self.split(items)
        if verbose:
            print(f"{len(splits)} datasets of sizes {', '.join(str(len(s)) for s in splits)}")
        return self.datasets_of(items, splits, verbose=verbose)

    def datasets_of(self, items: Any, splits: Any, verbose: bool = False) -> Any:
        """The `Datasets` of items already collected and split: fresh pipelines, set up on the training
        items; warns about validation labels that the training set lacks."""
        kwargs = {} if self.dl_type is None else {"dl_type": self.dl_type}
        dsets = Datasets(
            items, tfms=self.pipelines(), splits=splits, n_inp=self.n_inp, verbose=verbose, **kwargs
        )
        self._check_unseen(dsets)
        self._vocab = getattr(dsets, "vocab", None)
        return dsets

    def dataloaders(
        self,
        source: Any,
        path: str | Path = ".",
        verbose: bool = False,
        item_tfms: Any = None,
        batch_tfms: Any = None,
        **kwargs: Any,
    ) -> DataLoaders:
        """The `DataLoaders` of `source`: `datasets(source)` batched with the merged item and batch
        transforms (`item_tfms`/`batch_tfms` given here are merged after the block's own, as in the paper's
        `mnist.databunch(path, batch_tfms=...)`); `kwargs` (bs, num_workers, device, ...) go to
        `Datasets.dataloaders` after the blocks' `dls_kwargs`. Sets `dls.loss_func` to the target block's
        default loss."""
        return self.dataloaders_of(
            self.datasets(source, verbose=verbose),
            path=path,
            verbose=verbose,
            item_tfms=item_tfms,
            batch_tfms=batch_tfms,
            **kwargs,
        )

    def dataloaders_of(
        self,
        dsets: Any,
        path: str | Path = ".",
        verbose: bool = False,
        item_tfms: Any = None,
        batch_tfms: Any = None,
        **kwargs: Any,
    ) -> DataLoaders:
        """The `DataLoaders` of Datasets `dsets` (built by `datasets`) with this block's transforms (plus
        `item_tfms`/`batch_tfms`), loader kwargs and default loss."""
        kwargs = {**self.dls_kwargs, **kwargs}
        dls = dsets.dataloaders(
            path=path,
            after_item=_fresh(merge_tfms(self.item_tfms, item_tfms)),
            after_batch=_fresh(merge_tfms(self.batch_tfms, batch_tfms)),
            verbose=verbose,
            **kwargs,
        )
        dls.loss_func = self.loss_func
        return dls

    databunch = dataloaders

    @property
    def vocab(self) -> Any:
        """The vocabulary of the last Datasets built (that of its last block with one)."""
        if self._vocab is None:
            raise AttributeError(
                "DataBlock.vocab: no vocabulary yet; call datasets(source) or dataloaders(source) first "
                "(and the blocks must include one with a vocab, such as CategoryBlock)"
            )
        return self._vocab

    def summary(self, source: Any, bs: int = 4, show_batch: bool = False, **kwargs: Any) -> None:
        """Walk one sample of `source` through every step, printing types and shapes; a failing step is
        named (with the transform and the item) in the re-raised error. With `show_batch`, the batch is
        shown too (`kwargs` go to `show_batch`)."""
        from lamina.core.data.summary import datablock_summary

        datablock_summary(self, source, bs=bs, show_batch=show_batch, **kwargs)

    # ---- checks --------------------------------------------------------------------------------------
    def _check_unseen(self, dsets: Any) -> None:
        """Warn about validation labels that a label transform did not see in training."""
        for k, tl in enumerate(getattr(dsets, "tls", ())):
            fs = list(tl.tfms.fs)
            for j, t in enumerate(fs):
                if not callable(getattr(t, "unknown", None)) or getattr(t, "vocab", None) is None:
                    continue
                if tl.n_subsets < 2 or not len(tl.valid):
                    continue
                labels = _values_before(tl.valid, tl.splits[1], fs[:j])
                unseen = t.unknown(labels)
                if unseen:
                    shown = ", ".join(map(repr, unseen[:20])) + (", ..." if len(unseen) > 20 else "")
                    fate = (
                        "they encode to '#na#'"
                        if getattr(t, "add_na", False)
                        else "encoding them raises a KeyError; pass add_na=True to map them to '#na#', "
                        "or give the full vocab"
                    )
                    warnings.warn(
                        f"DataBlock: block {k} ({tfm_name(t)}): {len(unseen)} validation label(s) "
                        f"not in the training set: [{shown}]; {fate}",
                        UserWarning,
                        stacklevel=3,
                    )

    def __repr__(self) -> str:
        blocks = ", ".join(repr(b) for b in self.block_list)
        return (
            f"DataBlock(blocks=[{blocks}], n_inp={self.n_inp}, get_items={tfm_name(self.get_items)}, "
            f"splitter={tfm_name(self.splitter)}, getters={[tfm_name(g) for g in self.getters]})"
        )


def _values_before(tl: Any, positions: Sequence[int], steps: Iterable[Transform]) -> list:
    """The values `steps` make of the items of validation subset `tl` (at `positions` among all items);
    an error names the item."""
    steps = list(steps)
    items = tl.items
    out = []
    for i in range(len(items)):
        raw = x = items.iloc[i] if hasattr(items, "iloc") else items[i]
        for t in steps:
            try:
                x = t(x, split_idx=1)
            except Exception as e:
                where = (
                    f"DataBlock: validation item {i} (item {positions[i]} of all items, value "
                    f"{_preview(raw)}) failed in `{tfm_name(t)}` while checking its label"
                )
                raise with_context(e, where) from e
        out.append(x)
    return out
