"""`Datasets`: one `TfmdLists` per element of a sample tuple, over the same items and splits.

    dsets = Datasets(range(100), [[neg], [is_even, Categorize()]], splits=[range(80), range(80, 100)])
    dsets[3]                  # (-3, TensorCategory(0)): (input, target)
    dsets.decode(dsets[3])    # (3, 'odd')
    dls = dsets.dataloaders(bs=16)

`test_set` builds the validation-transformed dataset of new items (`DataLoaders.test_dl` uses it).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from lamina.core.basics.collections import L
from lamina.core.data.tfmd_lists import (
    FilteredBase,
    TfmdLists,
    _as_items,
    _is_index,
    _pick,
    _positions,
    normalize_splits,
    short_repr,
    with_context,
)

__all__ = ["Datasets", "test_set"]


class Datasets(FilteredBase):
    """Tuples made by several pipelines from the same items: `ds[i] = (tls[0][i], tls[1][i], ...)`.

    - `items` and `tfms` (a list of lists of transforms: one pipeline per tuple element; None gives one
      identity pipeline), or `tls`: the `TfmdLists` themselves (same length).
    - `n_inp`: how many tuple elements are inputs (default: all but the last; at least 1).
    - Other keywords (`splits`, `use_list`, `do_setup`, `split_idx`, `train_setup`, `verbose`) go to each
      `TfmdLists`; the items are stored once and shared.
    - `subset(i)`, `train`, `valid`, `decode`, `show`, `new_empty`, `vocab`, `dataloaders` (see
      `FilteredBase.dataloaders`).
    """

    def __init__(
        self,
        items: Any = None,
        tfms: Sequence | None = None,
        tls: Sequence[TfmdLists] | None = None,
        n_inp: int | None = None,
        dl_type: type | None = None,
        splits: Any = None,
        use_list: bool | None = None,
        **kwargs: Any,
    ):
        if dl_type is not None:
            self._dl_type = dl_type
        if tls is None:
            if items is None:
                raise ValueError("Datasets needs `items` (with `tfms`) or `tls`")
            stored = _as_items(items, use_list)
            if len(stored) == 0:
                raise ValueError(
                    "Datasets: no items (the collection is empty); check the source or `get_items`"
                )
            checked = normalize_splits(splits, len(stored), owner="Datasets")
            pipelines = [None] if tfms is None else list(tfms)
            if not pipelines:
                raise ValueError("Datasets(tfms=[]): give one list of transforms per tuple element (or None)")
            tls = []
            for k, t in enumerate(pipelines):
                try:
                    tls.append(TfmdLists(stored, t, use_list=use_list, splits=checked, **kwargs))
                except Exception as e:
                    raise with_context(e, f"Datasets: building the pipeline of tuple element {k}") from e
        self.tls = L(tls, use_list=True)
        if not self.tls:
            raise ValueError("Datasets(tls=[]): need at least one TfmdLists")
        lengths = {len(tl) for tl in self.tls}
        if len(lengths) > 1:
            raise ValueError(f"Datasets: the TfmdLists have different lengths {[len(tl) for tl in self.tls]}")
        n_inp = max(1, len(self.tls) - 1) if n_inp is None else n_inp
        if not isinstance(n_inp, int) or not 1 <= n_inp <= len(self.tls):
            raise ValueError(
                f"Datasets(n_inp={n_inp!r}): must be between 1 and the tuple length {len(self.tls)}"
            )
        self.n_inp = n_inp

    # ---- access --------------------------------------------------------------------------------
    def _item(self, i: int) -> tuple:
        parts = []
        for k, tl in enumerate(self.tls):
            try:
                parts.append(tl[i])
            except Exception as e:
                if len(self.tls) == 1:
                    raise
                raise with_context(e, f"Datasets: tuple element {k} of item {i}") from e
        return tuple(parts)

    def __getitem__(self, idx: Any) -> tuple | list[tuple]:
        if _is_index(idx):
            return self._item(int(idx))
        positions = (
            range(*idx.indices(len(self)))
            if isinstance(idx, slice)
            else _positions(idx, len(self), "Datasets index")
        )
        return [self._item(i) for i in positions]

    def __len__(self) -> int:
        return len(self.tls[0])

    def __iter__(self) -> Iterator[tuple]:
        return (self._item(i) for i in range(len(self)))

    @property
    def items(self) -> Any:
        """The items (of the first TfmdLists; all share them)."""
        return self.tls[0].items

    @property
    def splits(self) -> L:
        return self.tls[0].splits

    def _splits_implicit(self) -> bool:
        return self.tls[0]._splits_implicit()

    @property
    def split_idx(self) -> int | None:
        """The split the transforms run for (0 training, 1 validation, None: all)."""
        return self.tls[0].split_idx

    @property
    def vocab(self) -> Any:
        """The vocabulary of the last TfmdLists that has one (the target's, usually); None if none has."""
        return next((tl.vocab for tl in reversed(self.tls) if tl.vocab is not None), None)

    @property
    def tfms(self) -> L:
        """The pipeline of each tuple element."""
        return self.tls.attrgot("tfms")

    # ---- subsets -------------------------------------------------------------------------------
    def subset(self, i: int) -> Datasets:
        """The items of split `i` (a Datasets sharing the transforms; `split_idx=i`)."""
        self._check_subset(i)
        return self._like([tl.subset(i) for tl in self.tls])

    def _like(self, tls: list[TfmdLists], n_inp: int | None = None) -> Datasets:
        new = type(self)(tls=tls, n_inp=self.n_inp if n_inp is None else n_inp)
        if "_dl_type" in self.__dict__:
            new._dl_type = self._dl_type
        return new

    def overlapping_splits(self) -> L:
        """The positions (in `items`) that belong to more than one split."""
        return self.tls[0].overlapping_splits()

    def new(self, items: Any, split_idx: int | None = None) -> Datasets:
        """The same (already set up) transforms on other `items` (all in one split)."""
        stored = _as_items(items, None)
        return self._like([tl.new(stored, split_idx=split_idx) for tl in self.tls])

    def new_empty(self) -> Datasets:
        """A Datasets with no items and the same transforms."""
        return self._like([tl.new_empty() for tl in self.tls])

    @contextmanager
    def set_split_idx(self, i: int | None):
        """Within the block, run the transforms as for split `i`."""
        old = self.split_idx
        for tl in self.tls:
            tl.tfms.split_idx = i
        try:
            yield self
        finally:
            for tl in self.tls:
                tl.tfms.split_idx = old

    # ---- decoding and showing ------------------------------------------------------------------
    def decode(self, o: Sequence, full: bool = True) -> tuple:
        """Decode each element of tuple `o` with its pipeline (`full=False`: stop once it can show itself);
        a lone value (not a tuple or list) is decoded as the first element.

        With a single pipeline, every element is decoded with it (a language-model dataset gives
        `(input, target)`, both texts, from one pipeline). With several, elements beyond the pipelines are
        passed through as they are: none is dropped."""
        if not isinstance(o, (tuple, list)):
            o = (o,)
        tls = list(self.tls) * len(o) if len(self.tls) == 1 else list(self.tls)
        return tuple(tl.decode(x, full=full) for x, tl in zip(o, tls)) + tuple(o[len(tls) :])

    def show(self, o: Sequence, ctx: Any = None, **kwargs: Any) -> Any:
        """Show each element of tuple `o` on `ctx` in turn; returns the context."""
        for x, tl in zip(o, self.tls):
            ctx = tl.show(x, ctx=ctx, **kwargs)
        return ctx

    def __repr__(self) -> str:
        shown = ", ".join(short_repr(_pick(self.items, i), 30) for i in range(min(len(self), 3)))
        more = ", ..." if len(self) > 3 else ""
        pipes = "; ".join(repr(tl.tfms) for tl in self.tls)
        return f"Datasets({len(self)} items: [{shown}{more}]; n_inp={self.n_inp}; {pipes})"


def test_set(dsets: Datasets | TfmdLists, test_items: Any, rm_tfms: Any = None, with_labels: bool = False):
    """The validation transforms of `dsets` (`split_idx=1`) on `test_items`.

    For a `Datasets`, only the input pipelines unless `with_labels`. The leading transforms that the test
    items have already been through are skipped: `rm_tfms` (a count, or one per pipeline), by default
    found from the type of the first test item (`TfmdLists.infer_idx`): DataFrame rows go through the whole
    pipeline, getter (`ColReader`) included, while values a getter already gives (e.g. texts) start after it.
    With `with_labels`, the label pipelines are tried on the first test item: when they cannot read its
    label (a `KeyError`, e.g. `ColReader` on rows without the label column), the labels are dropped with a
    warning and the batches hold the inputs only.
    """
    items = _as_items(test_items, None)
    if len(items) == 0:
        raise ValueError("test_set: no test items (the collection is empty)")
    if isinstance(dsets, Datasets):
        tls = list(dsets.tls) if with_labels else list(dsets.tls)[: dsets.n_inp]
        test_tls = [tl.new(items, split_idx=1) for tl in tls]
        counts = _counts(rm_tfms, test_tls, items)
        for tl, k in zip(test_tls, counts):
            tl.tfms.fs = list(tl.tfms.fs)[k:]
        if len(test_tls) > dsets.n_inp and not _labelled(test_tls[dsets.n_inp :]):
            test_tls = test_tls[: dsets.n_inp]
        return Datasets(tls=test_tls, n_inp=min(dsets.n_inp, len(test_tls)))
    if isinstance(dsets, TfmdLists):
        test_tl = dsets.new(items, split_idx=1)
        (k,) = _counts(rm_tfms, [test_tl], items)
        test_tl.tfms.fs = list(test_tl.tfms.fs)[k:]
        return test_tl
    raise TypeError(
        "test_set needs a Datasets or a TfmdLists (the data of a DataLoaders built by lamina), "
        f"got {type(dsets).__name__}"
    )


def _labelled(label_tls: list[TfmdLists]) -> bool:
    """Whether the label pipelines can read the label of the first test item (warns when they cannot)."""
    for tl in label_tls:
        try:
            tl[0]
        except KeyError as e:
            warnings.warn(
                f"test_set(with_labels=True): the test items have no labels ({e}); the batches hold the "
                "inputs only",
                UserWarning,
                stacklevel=4,
            )
            return False
    return True


def _counts(rm_tfms: Any, tls: list[TfmdLists], items: Any) -> list[int]:
    if rm_tfms is None:
        first = _pick(items, 0)
        return [tl.infer_idx(first) if tl.types else 0 for tl in tls]
    counts = list(rm_tfms) if isinstance(rm_tfms, (list, tuple)) else [rm_tfms] * len(tls)
    if len(counts) != len(tls):
        raise ValueError(
            f"test_set(rm_tfms=...): need one count per pipeline ({len(tls)}), got {len(counts)}"
        )
    return counts
