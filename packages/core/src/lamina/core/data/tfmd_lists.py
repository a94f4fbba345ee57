"""`TfmdLists`: items with a `Pipeline` applied lazily on access, split into training/validation subsets.

    tl = TfmdLists(range(100), [neg], splits=[range(80), range(80, 100)])
    tl[3]          # -3: the pipeline runs on access
    tl.train       # the 80 training items (split_idx 0); tl.valid: the 20 others (split_idx 1)
    tl.decode(-3)  # back through the transforms' decodes

Setup (vocabularies, statistics) runs once, at construction, on the training subset only; the subsets
share the transforms. `dataloaders(bs=...)` makes a `DataLoaders` of `TfmdDL`, one per subset.
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lamina.core.basics.collections import L
from lamina.core.basics.functional import is_array_like
from lamina.core.data.loaders import DataLoaders
from lamina.core.data.show import show_title
from lamina.core.pipeline import Pipeline
from lamina.core.transform import Transform, TransformError

__all__ = ["TfmdLists", "FilteredBase", "normalize_splits", "with_context", "short_repr"]

_PREVIEW = 60


def with_context(e: Exception, where: str) -> Exception:
    """A new exception saying `where` `e` happened (raise it `from e`): of `e`'s class when that class can
    be built from a message alone (so `except ValueError` still works), else a `TransformError`."""
    text = e.args[0] if getattr(e, "_lamina_context", False) and e.args else str(e)
    message = f"{where}: {text}" if text else f"{where}: {type(e).__name__}"
    try:
        new = type(e)(message)
        if type(new) is type(e) and new.args == (message,):
            new._lamina_context = True
            return new
    except Exception:  # a class with a constructor of its own
        pass
    new = TransformError(f"{where}: {type(e).__name__}: {text}")
    new._lamina_context = True
    return new


def short_repr(x: Any, limit: int = _PREVIEW) -> str:
    """`repr(x)` on one line, cut to `limit` characters."""
    text = " ".join(repr(x).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---- items -------------------------------------------------------------------------------------------
def _as_items(items: Any, use_list: bool | None) -> Any:
    """The stored collection: an `L` (kept as is, not copied) or a new one from an iterable; with
    `use_list=None`, a numpy array, a tensor or a pandas object is kept as it is (rows by position)."""
    if isinstance(items, L):
        return items
    if use_list is None and (is_array_like(items) or hasattr(items, "iloc")):
        return items
    if items is not None and not isinstance(items, (str, bytes)) and not hasattr(items, "__iter__"):
        raise TypeError(f"TfmdLists: items must be a collection, got {type(items).__name__}")
    return L(items, use_list=bool(use_list))


def _pick(items: Any, i: int) -> Any:
    return items.iloc[i] if hasattr(items, "iloc") else items[i]


def _take(items: Any, idxs: Sequence[int]) -> Any:
    """The items at positions `idxs` (the same object for all of them, in order)."""
    if isinstance(idxs, range) and idxs == range(len(items)):
        return items
    idxs = list(idxs)
    if hasattr(items, "iloc"):
        return items.iloc[idxs]
    if isinstance(items, np.ndarray):
        return items[np.asarray(idxs, dtype=np.int64)]
    if isinstance(items, torch.Tensor):
        return items[torch.as_tensor(idxs, dtype=torch.long)]
    return items[idxs]


def _is_index(i: Any) -> bool:
    if isinstance(i, bool):
        return False
    if isinstance(i, (int, np.integer)):
        return True
    return isinstance(i, torch.Tensor) and i.dim() == 0 and not i.is_floating_point()


def _takes_anything(t: Transform) -> bool:
    """Whether `t` has no typed `encodes` (none, or one on `object` only): it is called on any input."""
    types = t.input_types
    return not types or tuple(types) == (object,)


# ---- splits ------------------------------------------------------------------------------------------
class _Splits(tuple):
    """Checked splits: a tuple of index sequences (a `range` or a list of non-negative ints). `implicit`:
    made for `splits=None` (every item in training, an empty second subset)."""

    implicit = False


def _positions(split: Any, n: int, name: str) -> Sequence[int]:
    """`split` (called `name` in errors) as non-negative positions in `range(n)`: indices (negatives count
    from the end), a boolean mask of length `n`, a slice or a range."""
    if isinstance(split, slice):
        return range(*split.indices(n))
    if isinstance(split, range) and (
        len(split) == 0 or 0 <= min(split[0], split[-1]) <= max(split[0], split[-1]) < n
    ):
        return split
    if isinstance(split, (torch.Tensor, np.ndarray)):
        split = split.tolist()
    try:
        values = list(split)
    except TypeError:
        raise TypeError(
            f"{name} must be a sequence of indices or a boolean mask, got {type(split).__name__}"
        ) from None
    flags = [isinstance(v, (bool, np.bool_)) for v in values]
    if values and all(flags):
        if len(values) != n:
            raise ValueError(f"{name} is a boolean mask of length {len(values)}, but there are {n} items")
        return [i for i, keep in enumerate(values) if keep]
    if any(flags):
        raise TypeError(f"{name} mixes bools and integers; give indices or a boolean mask")
    out = []
    for v in values:
        try:
            i = operator.index(v)
        except TypeError:
            raise TypeError(f"{name} holds {v!r} ({type(v).__name__}), not an integer index") from None
        if not -n <= i < n:
            raise IndexError(f"{name} holds index {i}, out of range for {n} items")
        out.append(i + n if i < 0 else i)
    return out


def _overlap(splits: Sequence[Sequence[int]], n: int) -> list[int]:
    """The positions that are in more than one split (each counted once per split), sorted."""
    if len(splits) < 2 or n == 0:
        return []
    counts = np.zeros(n, dtype=np.int64)
    for s in splits:
        counts[np.unique(np.asarray(s, dtype=np.int64))] += 1
    return np.flatnonzero(counts > 1).tolist()


def normalize_splits(splits: Any, n: int, owner: str = "TfmdLists") -> tuple[Sequence[int], ...]:
    """`splits` (None: every item is a training item) as a tuple of position sequences, checked.

    Raises for a bad index, a mask of the wrong length or an empty training split (when there are items);
    warns when a validation split is empty or when splits overlap.
    """
    if isinstance(splits, _Splits):
        return splits
    if splits is None:
        found = _Splits((range(n), []))
        found.implicit = True
        return found
    if isinstance(splits, (str, bytes)) or not hasattr(splits, "__len__") or len(splits) == 0:
        raise TypeError(f"{owner}(splits=...) must be a list of index lists (training first), got {splits!r}")
    found = _Splits(_positions(s, n, f"splits[{k}]") for k, s in enumerate(splits))
    if n and len(found[0]) == 0:
        raise ValueError(f"{owner}: the training split (splits[0]) is empty; check the splitter")
    for k, s in enumerate(found[1:], start=1):
        if n and len(s) == 0:
            warnings.warn(
                f"{owner}: split {k} ({'the validation set' if k == 1 else 'subset ' + str(k)}) is empty, "
                f"so its loader has no batches (validation metrics cannot be computed); check the splitter",
                UserWarning,
                stacklevel=3,
            )
    shared = _overlap(found, n)
    if shared:
        warnings.warn(
            f"{owner}: {len(shared)} item(s) are in more than one split (e.g. positions {shared[:8]}); "
            "validation results will be optimistic. `overlapping_splits()` lists them",
            UserWarning,
            stacklevel=3,
        )
    return found


def _role(split_idx: int | None) -> str:
    return {None: "", 0: " of the training subset", 1: " of the validation subset"}.get(
        split_idx, f" of subset {split_idx}"
    )


# ---- shared base -------------------------------------------------------------------------------------
class FilteredBase:
    """What `TfmdLists` and `Datasets` share: subsets by split (`subset`, `train`, `valid`, `n_subsets`)
    and `dataloaders`."""

    _dl_type: type | None = None  # None: TfmdDL (imported late: tfmd_dl imports this module)
    _dbunch_type: type = DataLoaders

    @property
    def splits(self) -> L:
        raise NotImplementedError

    def _splits_implicit(self) -> bool:
        """Whether the splits were not given (every item in training)."""
        raise NotImplementedError

    @property
    def n_subsets(self) -> int:
        """How many subsets the splits define (2 with no splits: all items, and an empty one)."""
        return len(self.splits)

    def subset(self, i: int) -> Any:
        raise NotImplementedError

    def _check_subset(self, i: int) -> None:
        if not isinstance(i, int) or not 0 <= i < self.n_subsets:
            raise IndexError(
                f"{type(self).__name__} has {self.n_subsets} subsets (splits); there is no subset {i}"
            )

    @property
    def train(self) -> Any:
        """The training subset (`subset(0)`)."""
        return self.subset(0)

    @property
    def valid(self) -> Any:
        """The validation subset (`subset(1)`)."""
        return self.subset(1)

    def dataloaders(
        self,
        bs: int = 64,
        shuffle_train: bool = True,
        after_item: Any = None,
        before_batch: Any = None,
        after_batch: Any = None,
        device: torch.device | str | None = None,
        num_workers: int = 0,
        val_bs: int | None = None,
        shuffle: bool | None = None,
        val_shuffle: bool = False,
        drop_last: bool | None = None,
        n: int | None = None,
        path: str | Path = ".",
        dl_type: type | None = None,
        dl_kwargs: Sequence[dict] | None = None,
        **kwargs: Any,
    ) -> DataLoaders:
        """A `DataLoaders` with one `dl_type` (default `TfmdDL`) loader per subset.

        The training loader is shuffled (`shuffle_train`, or its alias `shuffle`) and drops its last
        partial batch (`drop_last`, default: as shuffled); its `after_item`/`before_batch`/`after_batch`
        pipelines are set up once and shared by the other loaders, which are neither shuffled
        (`val_shuffle`) nor drop their last batch and use `val_bs` (default `bs`). Keywords starting with
        `val_` go to the validation loaders only, `dl_kwargs[i]` to loader `i` only; other keywords
        (`seed`, `pin_memory`, hooks, ...) to every loader. `device=None`: batches follow the model.
        """
        from lamina.core.data.tfmd_dl import TfmdDL

        shuffle = shuffle_train if shuffle is None else shuffle
        dl_type = dl_type or self._dl_type or TfmdDL
        count = self.n_subsets
        dl_kwargs = [{} for _ in range(count)] if dl_kwargs is None else list(dl_kwargs)
        if len(dl_kwargs) != count:
            raise ValueError(
                f"dataloaders(dl_kwargs=...) needs one dict per subset ({count}), got {len(dl_kwargs)}"
            )
        val_kwargs = {k[4:]: kwargs.pop(k) for k in list(kwargs) if k.startswith("val_")}
        subsets = [self.subset(i) for i in range(count)]
        if len(subsets[0]) == 0:
            raise ValueError(f"{type(self).__name__}.dataloaders: the training subset is empty")
        if self._splits_implicit():  # explicit empty splits were reported at construction
            warnings.warn(
                f"{type(self).__name__}.dataloaders: no splits were given, so the validation loader has no "
                "items (and no batches); pass `splits=` to validate",
                UserWarning,
                stacklevel=2,
            )
        first = dl_type(
            subsets[0],
            bs=bs,
            shuffle=shuffle,
            drop_last=shuffle if drop_last is None else drop_last,
            n=n,
            num_workers=num_workers,
            after_item=after_item,
            before_batch=before_batch,
            after_batch=after_batch,
            **{**kwargs, **dl_kwargs[0]},
        )
        rest = [
            first.new(
                s,
                **{
                    **kwargs,
                    "bs": bs if val_bs is None else val_bs,
                    "shuffle": val_shuffle,
                    "drop_last": False,
                    **val_kwargs,
                    **dl_kwargs[i],
                },
            )
            for i, s in enumerate(subsets[1:], start=1)
        ]
        return self._dbunch_type(first, *rest, path=path, device=device)


# ---- TfmdLists ---------------------------------------------------------------------------------------
class TfmdLists(FilteredBase):
    """Items and a `Pipeline` applied to them lazily: `tl[i]` is `tfms(items[i])`.

    - `items`: any collection (stored as an `L`; an `L` is kept, not copied; with `use_list=None` a numpy
      array, a tensor or a pandas DataFrame/Series is kept as it is and read by position).
    - `tfms`: transforms, functions or a `Pipeline` (a `Pipeline` or a `TfmdLists` given here is already set
      up: `do_setup` is ignored); `tl.tfms` is this object's own `Pipeline` of those transforms.
    - `splits`: a list of index lists (or boolean masks), training first; None puts every item in training.
      `tl.subset(i)`, `tl.train`, `tl.valid` are `TfmdLists` over those items sharing the transforms, with
      `split_idx` i. Setup (`do_setup`) runs on the training subset (`train_setup`) before anything else.
    - `types`: the type each transform expects, found at setup (`infer_idx`/`infer` use them).
    - Errors: a transform that fails on an item raises (the same exception class) naming the item's index,
      its value and the failing transform. No items, bad or empty training splits raise; an empty
      validation split and overlapping splits warn.
    """

    def __init__(
        self,
        items: Any,
        tfms: Any = None,
        use_list: bool | None = None,
        do_setup: bool = True,
        split_idx: int | None = None,
        train_setup: bool = True,
        splits: Any = None,
        types: list | None = None,
        verbose: bool = False,
        dl_type: type | None = None,
    ):
        stored = _as_items(items, use_list)
        if len(stored) == 0:
            raise ValueError("TfmdLists: no items (the collection is empty); check the source or `get_items`")
        if isinstance(tfms, TfmdLists):
            tfms = tfms.tfms
        if isinstance(tfms, Pipeline):
            do_setup = False
        self._init(stored, Pipeline(tfms, split_idx=split_idx), normalize_splits(splits, len(stored)), types)
        if dl_type is not None:
            self._dl_type = dl_type
        if do_setup:
            if verbose:
                print(f"Setting up {self.tfms!r}")
            self.setup(train_setup=train_setup)

    def _init(
        self, items: Any, tfms: Pipeline, splits: tuple, types: list | None, origin: Any = None
    ) -> None:
        self.items, self.tfms, self._splits, self.types = items, tfms, splits, types
        self._origin = origin  # (positions in the parent's items, the parent's origin), for messages

    def _derived(self, items: Any, split_idx: int | None, origin: Any = None) -> TfmdLists:
        """A TfmdLists over `items` (may be empty) with this one's transforms, setup and types."""
        new = object.__new__(type(self))
        new.__dict__.update({k: v for k, v in self.__dict__.items() if k == "_dl_type"})
        tfms = Pipeline(self.tfms, split_idx=split_idx)
        new._init(items, tfms, normalize_splits(None, len(items)), self.types, origin)
        return new

    # ---- subsets -------------------------------------------------------------------------------
    @property
    def splits(self) -> L:
        """The index sequences of the subsets (training first)."""
        return L(self._splits, use_list=True)

    def _splits_implicit(self) -> bool:
        return getattr(self._splits, "implicit", False)

    @property
    def split_idx(self) -> int | None:
        """The split the transforms run for (0 training, 1 validation, None: all transforms)."""
        return self.tfms.split_idx

    def subset(self, i: int) -> TfmdLists:
        """The items of split `i`, as a TfmdLists sharing the transforms, with `split_idx=i`."""
        self._check_subset(i)
        idxs = self._splits[i]
        return self._derived(_take(self.items, idxs), i, (idxs, self._origin))

    def overlapping_splits(self) -> L:
        """The positions (in `items`) that belong to more than one split."""
        return L(_overlap(self._splits, len(self.items)), use_list=True)

    def new(self, items: Any, split_idx: int | None = None) -> TfmdLists:
        """The same (already set up) transforms on other `items` (all in one split); `split_idx` defaults
        to this one's."""
        stored = _as_items(items, None)
        if len(stored) == 0:
            raise ValueError("TfmdLists.new: no items (the collection is empty)")
        return self._derived(stored, self.split_idx if split_idx is None else split_idx)

    def new_empty(self) -> TfmdLists:
        """A TfmdLists with no items and the same transforms (e.g. to keep the transforms of a model)."""
        return self._derived(_take(self.items, []), self.split_idx)

    # ---- setup and types ----------------------------------------------------------------------
    def setup(self, train_setup: bool = True) -> None:
        """Set up the transforms in order, each on the (training, when `train_setup`) items as the transforms
        before it produce them; then record `types`: for each transform the types it takes (`input_types`),
        or, for one that takes anything (no typed `encodes`, or `encodes` on `object` only, e.g. `ColReader`),
        the type of what it received; last, the type of the result."""
        try:
            self.tfms.setup(self, train_setup)
        except Exception as e:
            raise with_context(e, f"TfmdLists.setup of {self.tfms!r}") from e
        source = self.train if train_setup else self
        if len(source) == 0:
            return
        x = _pick(source.items, 0)
        types: list = []
        for t in self.tfms.fs:
            types.append(type(x) if _takes_anything(t) else t.input_types)
            x = source._step(t, x, 0, _pick(source.items, 0))
        types.append(type(x))
        self.types = types

    def infer_idx(self, x: Any) -> int:
        """The position of the first transform whose expected type `x` has (to apply only the rest).

        A transform that takes anything expects the type it received at setup, so an item that has already
        been through it (e.g. a text for a pipeline that starts with `ColReader` on DataFrame rows) starts
        after it. When no recorded type matches but the first transform takes anything, all of them run."""
        if not self.types:
            raise ValueError("TfmdLists.infer_idx: no `types` recorded (setup did not run on any item)")
        for i, t in enumerate(self.types):
            if isinstance(x, t):
                return i
        fs = list(self.tfms.fs)
        if fs and _takes_anything(fs[0]):
            return 0
        expected = ", ".join(getattr(t, "__name__", str(t)) for t in self.types)
        raise TypeError(
            f"TfmdLists.infer_idx: got {type(x).__name__}, expected one of the pipeline's types: {expected}"
        )

    def infer(self, x: Any) -> Any:
        """Apply to `x` the transforms from the one that expects `x`'s type on."""
        for t in list(self.tfms.fs)[self.infer_idx(x) :]:
            x = t(x, split_idx=self.split_idx)
        return x

    # ---- access --------------------------------------------------------------------------------
    def _step(self, t: Transform, x: Any, i: int, raw: Any) -> Any:
        try:
            return t(x, split_idx=self.tfms.split_idx)
        except Exception as e:
            raise with_context(e, self._where(i, raw, t)) from e

    def _where(self, i: int, raw: Any, t: Transform) -> str:
        origin, where = self._origin, ""
        j = i
        while origin is not None:
            j = origin[0][j]
            origin = origin[1]
        if self._origin is not None:
            where = f"{_role(self.split_idx)}, item {j} of all items"
        fs = list(self.tfms.fs)
        step = next((k for k, f in enumerate(fs) if f is t), -1) + 1
        return (
            f"TfmdLists: item {i}{where} (value {short_repr(raw)}) failed in transform {step}/{len(fs)} "
            f"`{t.name}` of {self.tfms!r}"
        )

    def _encode(self, i: int) -> Any:
        n = len(self.items)
        if not -n <= i < n:
            raise IndexError(f"TfmdLists index {i} is out of range for {n} items")
        raw = x = _pick(self.items, i)
        split_idx = self.tfms.split_idx
        for t in self.tfms.fs.items:
            try:
                x = t(x, split_idx=split_idx)
            except Exception as e:
                raise with_context(e, self._where(i, raw, t)) from e
        return x

    def __getitem__(self, idx: Any) -> Any:
        if _is_index(idx):
            return self._encode(int(idx))
        positions = (
            range(*idx.indices(len(self)))
            if isinstance(idx, slice)
            else _positions(idx, len(self), "TfmdLists index")
        )
        return L([self._encode(i) for i in positions], use_list=True)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Any]:
        return (self._encode(i) for i in range(len(self)))

    def __call__(self, o: Any) -> Any:
        """Apply the transforms to `o`."""
        return self.tfms(o)

    def decode(self, o: Any, full: bool = True) -> Any:
        """Decode `o` through the transforms, last first (`full=False`: stop once it can show itself)."""
        return self.tfms.decode(o, full=full)

    def show(self, o: Any, ctx: Any = None, **kwargs: Any) -> Any:
        """Show an encoded item: decoded until it can show itself, else shown as a title (`show_title`:
        printed when `ctx` is None). Returns the context."""
        x = self.tfms.decode(o, full=False)
        if hasattr(x, "show"):
            return self.tfms.show(o, ctx=ctx, **kwargs)
        return show_title(x, ctx=ctx, **kwargs)

    @property
    def vocab(self) -> Any:
        """The `vocab` of the last transform that has one (None when none has)."""
        return next(
            (t.vocab for t in reversed(list(self.tfms.fs)) if getattr(t, "vocab", None) is not None), None
        )

    def __repr__(self) -> str:
        shown = ", ".join(short_repr(_pick(self.items, i), 30) for i in range(min(len(self), 5)))
        more = ", ..." if len(self) > 5 else ""
        name, split = type(self).__name__, self.split_idx
        return f"{name}({len(self)} items: [{shown}{more}]; {self.tfms!r}; split_idx={split})"
