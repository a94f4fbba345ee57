"""`TfmdDL`: a `DataLoader` whose `after_item`, `before_batch` and `after_batch` hooks are `Pipeline`s.

The pipelines are set up on the loader itself at construction (a batch transform such as `Normalize` can
read `dl.one_batch()` in its `setups`), run with the dataset's `split_idx`, and decode: `dl.decode(b)`
undoes the batch transforms, `dl.decode_batch(b)` gives the decoded samples, and `dl.show_batch()` shows
them through the `show_batch` type dispatch. Batches keep their semantic tensor types.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from itertools import zip_longest
from typing import Any

import torch

from lamina.core.basics.collections import L
from lamina.core.data.load import DataLoader
from lamina.core.data.show import show_batch as show_batch_dispatch
from lamina.core.data.show import show_results as show_results_dispatch
from lamina.core.data.tfmd_lists import with_context
from lamina.core.pipeline import Pipeline
from lamina.core.tensors import TensorBase, cast, to_cpu, to_device

__all__ = ["TfmdDL", "batch_to_samples", "PIPELINE_HOOKS"]

PIPELINE_HOOKS = ("after_item", "before_batch", "after_batch")
_STRUCTURES = (torch.Tensor, tuple, list, dict)


def _is_structure(b: Any) -> bool:
    """Whether a list/tuple in a batch holds the batch's parts (tensors, containers) rather than one value
    per sample (e.g. the strings of a batch, which collation leaves as a list)."""
    if isinstance(b, tuple) and not hasattr(b, "_fields"):
        return True
    return isinstance(b, list) and len(b) > 0 and all(isinstance(o, _STRUCTURES) for o in b)


def _like(b: Any, parts: list) -> Any:
    if type(b) in (tuple, list):
        return type(b)(parts)
    try:
        return type(b)(*parts) if hasattr(b, "_fields") else type(b)(parts)
    except TypeError:
        return tuple(parts)


def batch_to_samples(b: Any, max_n: int = 9) -> list:
    """Cut a batch into its first `max_n` samples, each with the batch's structure: a tensor gives its rows
    (of the same tensor type), a tuple (or a list of tensors/containers) gives one such container per sample,
    a dict one dict per sample, and a list of values (e.g. strings) its first values."""
    if isinstance(b, torch.Tensor):
        if b.dim() == 0:
            raise ValueError("batch_to_samples: got a 0-d tensor, which is not a batch")
        return list(b[:max_n].unbind(0))
    if isinstance(b, dict):
        columns = {k: batch_to_samples(v, max_n) for k, v in b.items()}
        return [dict(zip(columns, row)) for row in zip(*columns.values())]
    if _is_structure(b):
        columns = [batch_to_samples(part, max_n) for part in b]
        return [_like(b, list(row)) for row in zip(*columns)]
    if isinstance(b, list):
        return b[:max_n]
    return [b]


def _types_of(b: Any) -> Any:
    """The tensor types in batch `b`, in its structure (None where there is no tensor)."""
    if isinstance(b, torch.Tensor):
        return type(b)
    if isinstance(b, (tuple, list)):
        return tuple(_types_of(o) for o in b)
    return None


def _apply_types(b: Any, types: Any) -> Any:
    """Give the plain tensors in `b` the types recorded in `types` (where the structures match)."""
    if isinstance(b, torch.Tensor):
        if isinstance(types, type) and issubclass(types, TensorBase) and not isinstance(b, types):
            return cast(b, types)
        return b
    if isinstance(b, (tuple, list)) and isinstance(types, tuple):
        parts = [_apply_types(p, t) for p, t in zip_longest(b, types[: len(b)])]
        return _like(b, parts)
    return b


def _detuple(parts: list) -> Any:
    if len(parts) == 0:
        return None
    return parts[0] if len(parts) == 1 else tuple(parts)


def _accepts_full(f: Callable) -> bool:
    try:
        return "full" in inspect.signature(f).parameters
    except (TypeError, ValueError):
        return False


class TfmdDL(DataLoader):
    """A `DataLoader` whose `after_item`, `before_batch` and `after_batch` are `Pipeline`s.

    `after_item`/`before_batch`/`after_batch` take transforms (or functions, or a Pipeline); the pipelines
    run with the dataset's `split_idx` (0 training, 1 validation) and are set up on this loader when
    `do_setup` (each after the ones before it: `after_batch`'s `setups` may read `dl.one_batch()`).
    Other keywords go to `DataLoader`. `new(...)` keeps the pipelines (already set up). `n_inp`: the
    dataset's, else found from one batch (all parts but the last). `to(device)` also moves the tensor
    attributes of the `after_batch` transforms (e.g. normalisation statistics).
    """

    def __init__(
        self,
        dataset: Any = None,
        after_item: Any = None,
        before_batch: Any = None,
        after_batch: Any = None,
        do_setup: bool = True,
        verbose: bool = False,
        **kwargs: Any,
    ):
        split_idx = getattr(dataset, "split_idx", None)
        given = dict(zip(PIPELINE_HOOKS, (after_item, before_batch, after_batch)))
        pipes = {name: Pipeline(f, split_idx=split_idx) for name, f in given.items()}
        super().__init__(dataset, **pipes, **kwargs)
        self.verbose = verbose
        self._n_inp: int | None = None
        self._found: tuple[int, Any] | None = None  # (n_inp, batch types) from one pass
        if do_setup:
            for name in PIPELINE_HOOKS:
                pipe = getattr(self, name)
                if verbose:
                    print(f"Setting up {name}: {pipe!r}")
                try:
                    pipe.setup(self)
                except Exception as e:
                    raise with_context(e, f"TfmdDL: setting up `{name}` ({pipe!r})") from e

    # ---- split and iteration -------------------------------------------------------------------
    def _sync_split_idx(self) -> None:
        split_idx = getattr(self.dataset, "split_idx", None)
        for name in PIPELINE_HOOKS:
            pipe = getattr(self, name)
            if isinstance(pipe, Pipeline):
                pipe.split_idx = split_idx

    def __iter__(self):
        self._sync_split_idx()
        return super().__iter__()

    def one_batch(self) -> Any:
        """The first batch of a new epoch (main process)."""
        self._sync_split_idx()
        return super().one_batch()

    def _one_pass(self) -> tuple[int, Any]:
        """(n_inp, batch types), from one item made into a batch (cached)."""
        if self._found is None:
            b = None
            if self.indexed and self.n:
                item = self.do_item(0)
                if item is not None:
                    b = self.do_batch([item] if self.bs is not None else item)
                    if self.device is not None:
                        b = to_device(b, self.device)
                    b = self.after_batch(b)
            if b is None:
                b = self.one_batch()
            n_inp = len(b) - 1 if isinstance(b, tuple) and len(b) > 1 else 1
            self._found = (n_inp, _types_of(b))
        return self._found

    @property
    def n_inp(self) -> int:
        """How many parts of a batch are inputs: set explicitly, else the dataset's `n_inp`, else all
        parts of a batch but the last (1 when a batch is not a tuple)."""
        if self._n_inp is not None:
            return self._n_inp
        if hasattr(self.dataset, "n_inp"):
            return self.dataset.n_inp
        return self._one_pass()[0]

    @n_inp.setter
    def n_inp(self, value: int) -> None:
        self._n_inp = value

    # ---- decoding ------------------------------------------------------------------------------
    def _retain(self, b: Any) -> Any:
        """`b` with the tensor types of this loader's batches (predictions come back as plain tensors)."""
        return _apply_types(b, self._one_pass()[1])

    def decode(self, b: Any) -> Any:
        """Undo the `after_batch` transforms (last first) on batch `b`; the result is on the CPU."""
        return to_cpu(self.after_batch.decode(self._retain(b)))

    def _decode_samples(self, b: Any, max_n: int, full: bool) -> L:
        samples = [b] if self.bs is None else batch_to_samples(b, max_n)
        dataset_decode = getattr(self.dataset, "decode", None)
        with_full = dataset_decode is not None and _accepts_full(dataset_decode)
        out = []
        for s in samples:
            s = self.after_item.decode(self.before_batch.decode(s))
            if dataset_decode is not None:
                s = dataset_decode(s, full=full) if with_full else dataset_decode(s)
            out.append(s)
        return L(out, use_list=True)

    def decode_batch(self, b: Any, max_n: int = 9, full: bool = True) -> L:
        """The first `max_n` samples of batch `b`, each decoded through every transform: batch, item, and
        the dataset's (`full=False` stops where a value can show itself)."""
        return self._decode_samples(self.decode(b), max_n, full)

    def _pre_show_batch(self, b: Any, max_n: int = 9) -> tuple[Any, Any, L | None]:
        """(decoded inputs, decoded targets, decoded samples) of batch `b`, as `show_batch` takes them."""
        b = self.decode(b)
        if hasattr(b, "show"):
            return b, None, None
        samples = self._decode_samples(b, max_n, full=False)
        if not _is_structure(b):
            b, samples = [b], L([(s,) for s in samples], use_list=True)
        n = self.n_inp
        return _detuple(list(b[:n])), _detuple(list(b[n:])), samples

    # ---- showing -------------------------------------------------------------------------------
    def show_batch(
        self,
        b: Any = None,
        max_n: int = 9,
        ctxs: Any = None,
        show: bool = True,
        unique: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Show up to `max_n` samples of batch `b` (default: `one_batch()`) through the `show_batch` type
        dispatch; returns what it returns (the generic display: a `SampleTable`, or the contexts).
        `show=False` returns `(inputs, targets, samples)` decoded instead. `unique=True` shows one item
        many times (to see random augmentations)."""
        if b is None:
            b = self._unique_batch() if unique else self.one_batch()
        x, y, samples = self._pre_show_batch(b, max_n=max_n)
        if not show:
            return x, y, samples
        return show_batch_dispatch(x, y, samples, ctxs=ctxs, max_n=max_n, **kwargs)

    def _unique_batch(self) -> Any:
        saved = self.__dict__.get("get_idxs")
        self.get_idxs = lambda: [0] * (self.bs or 1)
        try:
            return self.one_batch()
        finally:
            if saved is None:
                del self.__dict__["get_idxs"]
            else:
                self.get_idxs = saved

    def show_results(
        self, b: Any, out: Any, max_n: int = 9, ctxs: Any = None, show: bool = True, **kwargs: Any
    ) -> Any:
        """Show up to `max_n` samples of batch `b` with the predictions `out` (decoded like targets)
        through the `show_results` type dispatch. `show=False` returns `(inputs, targets, samples, outs)`."""
        x, y, samples = self.show_batch(b, max_n=max_n, show=False)
        parts = list(b) if _is_structure(b) else [b]
        n = self.n_inp
        preds = list(out) if isinstance(out, (tuple, list)) else [out]
        b_out = _like(b, parts[:n] + preds) if _is_structure(b) else tuple(parts[:n] + preds)
        x1, _, outs = self.show_batch(b_out, max_n=max_n, show=False)
        if samples is None:
            res = (x, x1, None, None)
        else:
            res = (x, y, samples, L([tuple(o)[n:] for o in outs], use_list=True))
        if not show:
            return res
        return show_results_dispatch(*res, ctxs=ctxs, max_n=max_n, **kwargs)

    # ---- copies and devices --------------------------------------------------------------------
    def new(self, dataset: Any = None, **kwargs: Any) -> TfmdDL:
        """A copy with changes (see `DataLoader.new`) keeping the pipelines, already set up."""
        kwargs.setdefault("do_setup", False)
        res = super().new(dataset, **kwargs)
        res._n_inp, res._found = self._n_inp, self._found  # same pipelines: same batch structure and types
        return res

    def to(self, device: torch.device | str | None) -> TfmdDL:
        """Send batches to `device` from now on, with the tensor attributes of the `after_batch`
        transforms; returns `self`."""
        super().to(device)
        if self.device is not None:
            for t in self.after_batch.fs:
                for k, v in list(vars(t).items()):
                    if isinstance(v, torch.Tensor):
                        setattr(t, k, v.to(self.device))
        return self
