"""Vocabularies: `make_vocab` and the `Numericalize` transform (tokens <-> `TensorText` of ids)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from lamina.core.basics.collections import L
from lamina.core.plugins.registry import register_class
from lamina.core.transform import Transform
from lamina.text.defaults import defaults
from lamina.text.rules import UNK
from lamina.text.tensors import TensorText

__all__ = ["FAKE_TOKEN", "make_vocab", "Numericalize"]

FAKE_TOKEN = "xxfake"


def make_vocab(
    count: Mapping[str, int],
    min_freq: int = 3,
    max_vocab: int = 60000,
    special_toks: Sequence[str] | None = None,
) -> list[str]:
    """A vocabulary: the special tokens first, then the tokens seen at least `min_freq` times, most frequent
    first (ties in alphabetical order, so equal counts always give the same vocabulary).

    At most `max_vocab` tokens (special ones included) are kept; the list is then padded with `xxfake` to a
    multiple of 8 (embedding sizes that are multiples of 8 run faster on GPUs), so it exceeds `max_vocab` by
    up to 7 when `max_vocab` is not a multiple of 8 (as in fastai).
    """
    if not isinstance(count, Mapping):
        raise TypeError(f"make_vocab: count must be a Counter (token -> count), got {type(count).__name__}")
    if not isinstance(min_freq, int) or min_freq < 0:
        raise ValueError(f"make_vocab: min_freq must be an int >= 0, got {min_freq!r}")
    special = list(defaults.text_spec_tok if special_toks is None else special_toks)
    if not isinstance(max_vocab, int) or max_vocab < len(special):
        raise ValueError(
            f"make_vocab: max_vocab must be an int of at least {len(special)} (the special tokens), "
            f"got {max_vocab!r}"
        )
    seen = set(special)
    frequent = sorted(
        (t for t, c in count.items() if c >= min_freq and t not in seen), key=lambda t: (-count[t], t)
    )
    vocab = special + frequent[: max_vocab - len(special)]
    return vocab + [FAKE_TOKEN] * (-len(vocab) % 8)


@register_class("lamina.text.Numericalize")
class Numericalize(Transform):
    """Tokens -> `TensorText` of ids (unknown tokens -> the id of `xxunk`); decodes ids back to tokens.

    Give a `vocab`, or let `setup` build one with `make_vocab` from the training items: an object with a
    `counter` (what `Tokenizer.from_df`/`from_folder` record), a `Counter` itself, or token lists to count.
    """

    def __init__(
        self,
        vocab: Sequence[str] | None = None,
        min_freq: int = 3,
        max_vocab: int = 60000,
        special_toks: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.min_freq, self.max_vocab = min_freq, max_vocab
        self.special_toks = None if special_toks is None else list(special_toks)
        self.vocab: list[str] | None = None
        self.o2i: dict[str, int] = {}
        if vocab is not None:
            self.set_vocab(vocab)

    def set_vocab(self, vocab: Sequence[str]) -> None:
        """Use `vocab` (a list of tokens, by id)."""
        if isinstance(vocab, str) or not all(isinstance(t, str) for t in vocab):
            raise TypeError("Numericalize: vocab must be a list of string tokens")
        self.vocab = list(vocab)
        self.o2i = {}
        for i, t in enumerate(self.vocab):
            self.o2i.setdefault(t, i)  # a repeated token (the xxfake padding) keeps its first id
        self.unk_idx = self.o2i.get(UNK)

    def setups(self, items: Any) -> None:
        if items is None or self.vocab is not None:
            return
        counter = getattr(items, "counter", None)
        if counter is None:
            counter = items if isinstance(items, Counter) else self._count(items)
        self.set_vocab(make_vocab(counter, self.min_freq, self.max_vocab, self.special_toks))

    @staticmethod
    def _count(items: Iterable[Any]) -> Counter:
        counter: Counter = Counter()
        for i, o in enumerate(items):
            if isinstance(o, str) or not isinstance(o, (list, tuple, L)):
                raise TypeError(
                    f"Numericalize.setup: item {i} is a {type(o).__name__}, not a list of tokens; "
                    "tokenize first "
                    "(or give a Counter / an object with .counter)"
                )
            counter.update(o)
        return counter

    def encodes(self, o: list | L):
        if self.vocab is None:
            raise RuntimeError(
                "Numericalize has no vocab: pass vocab= or call setup on the training tokens first"
            )
        o2i, unk = self.o2i, self.unk_idx
        if unk is None:
            missing = next((t for t in o if t not in o2i), None)
            if missing is not None:
                raise ValueError(f"token {missing!r} is not in the vocab, which has no {UNK!r} to map it to")
            return TensorText(torch.tensor([o2i[t] for t in o], dtype=torch.long))
        return TensorText(torch.tensor([o2i.get(t, unk) for t in o], dtype=torch.long))

    def decodes(self, o: TensorText):
        if self.vocab is None:
            raise RuntimeError("Numericalize has no vocab to decode with")
        if o.dim() != 1:
            raise ValueError(
                f"Numericalize.decode expects one sequence of ids, got a tensor of shape {tuple(o.shape)}"
            )
        ids, n = o.tolist(), len(self.vocab)
        bad = next((i for i in ids if not 0 <= i < n), None)
        if bad is not None:
            raise IndexError(f"Numericalize.decode: id {bad} is outside the vocab (size {n})")
        return L([self.vocab[i] for i in ids], use_list=True)
