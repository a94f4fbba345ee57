"""Text data loaders: padding (`pad_input`, `pad_input_chunk`, `PadInput`, `PadChunk`), `SortedDL` and
`LMDataLoader`, all built on the kernel's `TfmdDL` hooks.

- `SortedDL` batches texts of similar lengths together (less padding): the validation order is longest first;
  in training, chunks of `bs * 50` shuffled items are sorted by length, cut into batches, and the batches
  shuffled (the batch holding the longest text comes first, so a batch that does not fit shows at once).
- `LMDataLoader` makes language-model batches: the documents (shuffled each epoch when `shuffle`) are joined
  into one token stream, cut into `bs` rows; batch `k` holds the next `seq_len` tokens of each row as input
  and the same window shifted by one token as target, so a stateful model continues each row batch to batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from lamina.core.basics.collections import L
from lamina.core.data.tfmd_dl import TfmdDL, batch_to_samples
from lamina.core.data.tfmd_lists import with_context
from lamina.core.plugins.registry import register_class
from lamina.core.tensors import retain_type
from lamina.core.transform import Transform
from lamina.text.tensors import LMTensorText, TensorText
from lamina.text.tokenize_transform import Tokenizer

__all__ = [
    "pad_input",
    "pad_input_chunk",
    "PadInput",
    "PadChunk",
    "SortedDL",
    "LMDataLoader",
    "text_lengths",
    "find_tokenizer",
]


# ---- padding --------------------------------------------------------------------------------------------
def _fields(pad_fields: int | Sequence[int]) -> list[int]:
    return [pad_fields] if isinstance(pad_fields, int) else list(pad_fields)


def _check_samples(samples: Sequence, fields: Sequence[int], who: str) -> None:
    if not len(samples):
        raise ValueError(f"{who}: no samples to pad")
    for i, s in enumerate(samples):
        if not isinstance(s, (tuple, list)):
            raise TypeError(f"{who}: sample {i} is a {type(s).__name__}, expected a tuple (text ids, ...)")
        for f in fields:
            if f >= len(s) or not isinstance(s[f], torch.Tensor) or s[f].dim() != 1:
                got = type(s[f]).__name__ if f < len(s) else "nothing"
                raise TypeError(
                    f"{who}: field {f} of sample {i} must be a 1-d tensor of token ids, got {got}"
                )


def pad_input(
    samples: Sequence[tuple],
    pad_idx: int = 1,
    pad_fields: int | Sequence[int] = 0,
    pad_first: bool = False,
    backwards: bool = False,
) -> list[tuple]:
    """Pad the fields `pad_fields` of every sample with `pad_idx` to the longest of that field in `samples`
    (at the start when `pad_first`, else at the end); `backwards` then flips each padded field."""
    fields = _fields(pad_fields)
    _check_samples(samples, fields, "pad_input")
    longest = {f: max(len(s[f]) for s in samples) for f in fields}

    def pad(x: torch.Tensor, f: int) -> torch.Tensor:
        fill = x.new_full((longest[f] - len(x),), pad_idx)
        res = torch.cat([fill, x] if pad_first else [x, fill])
        return retain_type(res.flip(0) if backwards else res, x)

    return [tuple(pad(x, f) if f in longest else x for f, x in enumerate(s)) for s in samples]


def _pad_chunk(x: torch.Tensor, length: int, pad_idx: int, pad_first: bool, seq_len: int) -> torch.Tensor:
    extra = length - len(x)
    chunks = x.new_full(((extra // seq_len) * seq_len,), pad_idx)
    rest = x.new_full((extra % seq_len,), pad_idx)
    parts = [chunks, x, rest] if pad_first else [x, rest, chunks]
    return retain_type(torch.cat(parts), x)


def pad_input_chunk(
    samples: Sequence[tuple], pad_idx: int = 1, pad_first: bool = True, seq_len: int = 72, n_inp: int = 1
) -> list[tuple]:
    """Pad the first `n_inp` fields of every sample to the longest of them, in whole chunks of `seq_len`:
    the padding that fills whole chunks goes first (`pad_first`, else last) and the remainder at the end, so
    every text starts on a chunk boundary of a recurrent encoder that reads `seq_len` tokens at a time."""
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        raise ValueError(f"pad_input_chunk: seq_len must be a positive int, got {seq_len!r}")
    fields = list(range(n_inp))
    _check_samples(samples, fields, "pad_input_chunk")
    longest = max(len(s[f]) for s in samples for f in fields)
    return [
        tuple(
            _pad_chunk(x, longest, pad_idx, pad_first, seq_len) if f < n_inp else x for f, x in enumerate(s)
        )
        for s in samples
    ]


class _Unpad(Transform):
    """What the padding transforms share: decoding a text removes its padding."""

    pad_idx: int = 1

    def decodes(self, o: TensorText):
        return o[o != self.pad_idx]


@register_class("lamina.text.PadInput")
class PadInput(_Unpad):
    """`pad_input` as a `before_batch` transform; decoding a text removes its padding."""

    def __init__(
        self, pad_idx: int = 1, pad_fields: int | Sequence[int] = 0, pad_first: bool = False, backwards=False
    ) -> None:
        super().__init__()
        self.pad_idx, self.pad_fields, self.pad_first, self.backwards = (
            pad_idx,
            pad_fields,
            pad_first,
            backwards,
        )

    def encodes(self, samples: list):
        return pad_input(samples, self.pad_idx, self.pad_fields, self.pad_first, self.backwards)


@register_class("lamina.text.PadChunk")
class PadChunk(_Unpad):
    """`pad_input_chunk` as a `before_batch` transform (what `TextBlock` gives a classifier's loaders);
    decoding a text removes its padding."""

    def __init__(self, pad_idx: int = 1, pad_first: bool = True, seq_len: int = 72, n_inp: int = 1) -> None:
        super().__init__()
        self.pad_idx, self.pad_first, self.seq_len, self.n_inp = pad_idx, pad_first, seq_len, n_inp

    def encodes(self, samples: list):
        return pad_input_chunk(samples, self.pad_idx, self.pad_first, self.seq_len, self.n_inp)


# ---- lengths --------------------------------------------------------------------------------------------
def _pipelines(dataset: Any) -> list:
    """The transforms of the dataset's first pipeline (a `Datasets`' input, or a `TfmdLists`')."""
    tls = getattr(dataset, "tls", None)
    first = tls[0] if tls else dataset
    tfms = getattr(first, "tfms", None)
    return list(getattr(tfms, "fs", []) or [])


def find_tokenizer(dataset: Any) -> Tokenizer | None:
    """The `Tokenizer` in the input pipeline of `dataset`, if there is one."""
    return next((t for t in _pipelines(dataset) if isinstance(t, Tokenizer)), None)


def _first(o: Any) -> Any:
    return o[0] if isinstance(o, (tuple, list)) else o


def text_lengths(dataset: Any) -> list[int] | None:
    """The token count of each item of `dataset`, when its tokenizer knows them without tokenizing (the
    DataFrame and folder modes record them); None otherwise."""
    tok = find_tokenizer(dataset)
    if tok is None:
        return None
    tls = getattr(dataset, "tls", None)
    items = (tls[0] if tls else dataset).items
    lengths = tok.get_lengths(items)
    if lengths is None or len(lengths) != len(dataset):
        return None
    return [int(n) for n in lengths]


# ---- SortedDL -------------------------------------------------------------------------------------------
def _default_sort(item: Any) -> int:
    return len(_first(item))


@register_class("lamina.text.SortedDL")
class SortedDL(TfmdDL):
    """A `TfmdDL` that batches items of similar `sort_func` values (see the module docstring).

    `res`: the sort key of each item; default: the token counts the tokenizer recorded (`text_lengths`), else
    `sort_func(item)` for every item (`len` of the item's first part by default), computed once."""

    def __init__(
        self, dataset: Any = None, sort_func: Callable[[Any], Any] | None = None, res: Any = None, **kwargs
    ) -> None:
        super().__init__(dataset, **kwargs)
        default = sort_func is None or sort_func is _default_sort
        self.sort_func = _default_sort if sort_func is None else sort_func
        if res is None and default and dataset is not None:
            res = text_lengths(dataset)
        if res is None and dataset is not None:
            res = [self.sort_func(self._item_at(i)) for i in range(self.n or 0)]
        if res is not None and self.n is not None and len(res) != self.n:
            raise ValueError(f"SortedDL: res has {len(res)} sort keys for {self.n} items")
        self.res = None if res is None else list(res)
        self.idx_max = max(range(len(self.res)), key=self.res.__getitem__) if self.res else 0

    def _item_at(self, i: int) -> Any:
        try:
            return self.do_item(i)
        except Exception as e:
            raise with_context(e, f"SortedDL: computing the sort key of item {i}") from e

    def get_idxs(self) -> Sequence[int]:
        """Longest first without shuffling; roughly sorted, shuffled batches with it."""
        if self.res is None:
            return super().get_idxs()
        if not self.shuffle:
            return sorted(range(self.n), key=lambda i: -self.res[i])
        return self.shuffle_fn(range(self.n))

    def shuffle_fn(self, idxs: Sequence[int]) -> list[int]:
        """Shuffle, sort chunks of `bs * 50` by length (longest first), cut into batches, shuffle the batches
        but the first (which holds the longest item) and the last (maybe partial)."""
        idxs = super().shuffle_fn(idxs)
        if self.res is None:
            return idxs
        where = idxs.index(self.idx_max)
        idxs[0], idxs[where] = idxs[where], idxs[0]
        bs = self.bs or 1
        size = bs * 50
        ordered = []
        for start in range(0, len(idxs), size):
            ordered += sorted(idxs[start : start + size], key=lambda i: -self.res[i])
        batches = [ordered[i : i + bs] for i in range(0, len(ordered), bs)]
        if len(batches) <= 2:
            return ordered
        middle = [batches[i] for i in super().shuffle_fn(range(1, len(batches) - 1))]
        return [i for b in [batches[0], *middle, batches[-1]] for i in b]

    def new(self, dataset: Any = None, **kwargs: Any) -> SortedDL:
        """A copy with changes; for another `dataset` the sort keys are found again (unless `res` is
        given)."""
        if dataset is not None and "res" not in kwargs:
            kwargs["res"] = None
        return super().new(dataset, **kwargs)


# ---- LMDataLoader ---------------------------------------------------------------------------------------
@register_class("lamina.text.LMDataLoader")
class LMDataLoader(TfmdDL):
    """Language-model batches `(LMTensorText (bs, seq_len), TensorText (bs, seq_len))` from a dataset of texts
    (see the module docstring).

    - `lens`: the token count of each document (default: what the tokenizer recorded, else counted when the
      corpus is numericalized);
    - `seq_len_jitter` (in [0, 0.5)): in a shuffling loader, each batch boundary moves by up to
      `seq_len_jitter * seq_len` tokens, drawn each epoch (the number of batches stays the same);
    - `cache`: accepted for fastai compatibility; the whole corpus is numericalized once (at the first batch)
      and kept as one int32 tensor, so no per-document cache is needed.

    The corpus is cut to a multiple of `bs` tokens (plus one for the last target); `len(dl)` batches per
    epoch, the last one shorter when the rows do not divide into `seq_len` windows.
    """

    def __init__(
        self,
        dataset: Any,
        lens: Sequence[int] | None = None,
        cache: int = 2,
        bs: int = 64,
        seq_len: int = 72,
        num_workers: int = 0,
        seq_len_jitter: float = 0.0,
        **kwargs: Any,
    ) -> None:
        if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
            raise ValueError(f"LMDataLoader: seq_len must be a positive int, got {seq_len!r}")
        if isinstance(bs, bool) or not isinstance(bs, int) or bs < 1:
            raise ValueError(f"LMDataLoader: bs must be a positive int, got {bs!r}")
        if not 0 <= seq_len_jitter < 0.5:
            raise ValueError(f"LMDataLoader: seq_len_jitter must be in [0, 0.5), got {seq_len_jitter!r}")
        if dataset is None or not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"LMDataLoader needs a dataset of texts with len(), got {type(dataset).__name__}")
        kwargs.pop("n", None)  # the number of items follows from the corpus
        self.seq_len, self.cache, self.seq_len_jitter = seq_len, cache, seq_len_jitter
        self.n_docs = len(dataset)
        self._corpus: torch.Tensor | None = None  # every document's ids, joined in dataset order
        self._offsets: torch.Tensor | None = None
        self._stream: torch.Tensor | None = None  # this epoch's documents joined in this epoch's order
        self._bounds: list[int] | None = None
        self.dataset = dataset  # the corpus helpers read it before the loader is initialised
        if lens is None:
            lens = text_lengths(dataset)
        if lens is None:
            self._build_corpus(None)
            lens = self.lens
        self.lens = [int(n) for n in lens]
        if len(self.lens) != self.n_docs:
            raise ValueError(f"LMDataLoader: lens has {len(self.lens)} entries for {self.n_docs} documents")
        total = sum(self.lens)
        self.bl = (total - 1) // bs  # tokens per row
        if self.bl < 1:
            raise ValueError(
                f"LMDataLoader: the corpus has {total} tokens, too few for bs={bs} rows "
                "(each row needs at least 2 tokens); lower bs or add texts"
            )
        self.n_batches = math.ceil(self.bl / seq_len)
        self.last_len = self.bl - (self.n_batches - 1) * seq_len
        super().__init__(dataset, bs=bs, num_workers=num_workers, n=self.n_batches * bs, **kwargs)

    # ---- the corpus ------------------------------------------------------------------------------------
    def _doc(self, i: int) -> torch.Tensor:
        try:
            ids = _first(self.dataset[i])
        except Exception as e:
            raise with_context(e, f"LMDataLoader: numericalizing document {i}") from e
        if not isinstance(ids, torch.Tensor) or ids.dim() != 1:
            raise TypeError(
                f"LMDataLoader: document {i} gave a {type(ids).__name__}, not a 1-d tensor of token ids; "
                "the dataset must tokenize and numericalize its texts (e.g. TextBlock(is_lm=True))"
            )
        return ids

    def _build_corpus(self, lens: Sequence[int] | None) -> None:
        docs = [self._doc(i) for i in range(self.n_docs)]
        found = [len(d) for d in docs]
        if lens is not None:
            bad = next((i for i, (a, b) in enumerate(zip(found, lens)) if a != b), None)
            if bad is not None:
                raise ValueError(
                    f"LMDataLoader: document {bad} has {found[bad]} tokens, but lens says {lens[bad]}"
                )
        self.lens = found
        self._corpus = torch.cat([d.to(torch.int32) for d in docs]) if docs else torch.zeros(0, torch.int32)
        self._offsets = torch.tensor([0, *found], dtype=torch.long).cumsum(0)

    def _ensure_stream(self) -> None:
        if self._stream is None:
            self._make_stream(range(self.n_docs), jitter=False)

    def _make_stream(self, order: Sequence[int], jitter: bool) -> None:
        if self._corpus is None:
            self._build_corpus(self.lens)
        offsets, corpus = self._offsets.tolist(), self._corpus
        self._stream = torch.cat([corpus[offsets[i] : offsets[i + 1]] for i in order])
        self._bounds = self._batch_bounds(jitter)

    def _batch_bounds(self, jitter: bool) -> list[int]:
        """Where each batch starts in a row (plus the row length): every `seq_len` tokens, moved at random by
        up to `seq_len_jitter * seq_len` when `jitter`."""
        bounds = [k * self.seq_len for k in range(self.n_batches)] + [self.bl]
        shift = int(self.seq_len_jitter * self.seq_len)
        if jitter and shift and self.n_batches > 1:
            for k in range(1, self.n_batches):
                bounds[k] += self.rng.randint(-shift, shift)
            bounds[-2] = min(bounds[-2], self.bl - 1)
        return bounds

    # ---- hooks -----------------------------------------------------------------------------------------
    def get_idxs(self) -> range:
        """Order the documents for this epoch (`shuffle_fn` of them when shuffling) and make the stream;
        the samples are the item numbers in order."""
        docs = range(self.n_docs)
        order = self.shuffle_fn(docs) if self.shuffle else docs
        self._make_stream(order, jitter=self.shuffle and self.seq_len_jitter > 0)
        return range(self.n)

    def create_item(self, seq: Any) -> tuple[LMTensorText, TensorText]:
        """Item `seq` (batch `seq // bs`, row `seq % bs`): a window of the stream and its next tokens."""
        seq = 0 if seq is None else seq
        if not 0 <= seq < self.n:
            raise IndexError(f"LMDataLoader: item {seq} is out of range ({self.n} items)")
        self._ensure_stream()
        k, row = divmod(seq, self.bs)
        start, stop = self._bounds[k], self._bounds[k + 1]
        base = row * self.bl
        window = self._stream[base + start : base + stop + 1].long()
        return LMTensorText(window[:-1]), TensorText(window[1:])

    def new(self, dataset: Any = None, **kwargs: Any) -> LMDataLoader:
        """A copy with changes; for another `dataset` the document lengths are found again."""
        if dataset is not None and "lens" not in kwargs:
            kwargs["lens"] = None
        res = super().new(dataset, **kwargs)
        if dataset is None and res.n_docs == self.n_docs and self._corpus is not None:
            res._corpus, res._offsets = self._corpus, self._offsets  # the same documents: share the corpus
        return res

    # ---- decoding ----------------------------------------------------------------------------------------
    def _decode_samples(self, b: Any, max_n: int, full: bool) -> L:
        """Input and target are both texts: decode each with the dataset's text pipeline."""
        tls = getattr(self.dataset, "tls", None)
        text = tls[0] if tls else self.dataset
        out = []
        for s in batch_to_samples(b, max_n):
            s = self.after_item.decode(self.before_batch.decode(s))
            out.append(tuple(text.decode(part, full=full) for part in s))
        return L(out, use_list=True)
