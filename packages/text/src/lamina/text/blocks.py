"""`TextBlock`: the block of texts for `DataBlock`, as a language-model stream or as classifier inputs.

    TextBlock.from_df('text', is_lm=True)      # texts in a DataFrame column, tokenized once at setup
    TextBlock.from_folder(path, vocab=vocab)   # text files, tokenized once into a folder beside `path`

Its type transforms are the tokenizer and `Numericalize` (then `ReverseText` for a backwards model). A
language-model block batches with `LMDataLoader` (`seq_len` tokens per row); a classifier block with
`SortedDL`, padding each batch with `PadChunk(seq_len)`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from lamina.core.data.blocks import TransformBlock
from lamina.core.plugins.registry import register_class
from lamina.core.transform import Transform
from lamina.text.defaults import defaults
from lamina.text.loaders import LMDataLoader, PadChunk, SortedDL
from lamina.text.tensors import TensorText
from lamina.text.tokenize_transform import Tokenizer
from lamina.text.vocab import Numericalize

__all__ = ["ReverseText", "TextBlock"]


@register_class("lamina.text.ReverseText")
class ReverseText(Transform):
    """Flip a text's ids (for a backwards language model or classifier); decoding flips them back."""

    order = 10  # after Numericalize

    def encodes(self, o: TensorText):
        return o.flip(0)

    def decodes(self, o: TensorText):
        return o.flip(0)


@register_class("lamina.text.TextBlock")
class TextBlock(TransformBlock):
    """Texts: tokenized by `tok_tfm` (default: a `Tokenizer` with spaCy and the default rules, run on each
    text), numericalized with `vocab` (default: built at setup from the training texts, with `min_freq` and
    `max_vocab`), reversed when `backwards`. `is_lm` picks the loader (see the module docstring)."""

    def __init__(
        self,
        tok_tfm: Transform | None = None,
        vocab: Sequence[str] | None = None,
        is_lm: bool = False,
        seq_len: int = 72,
        backwards: bool = False,
        min_freq: int = 3,
        max_vocab: int = 60000,
        special_toks: Sequence[str] | None = None,
    ) -> None:
        if tok_tfm is None:
            tok_tfm = Tokenizer(None)
        if not isinstance(tok_tfm, Transform):
            raise TypeError(
                f"TextBlock: tok_tfm must be a tokenizing Transform (e.g. Tokenizer.from_df(...)), got "
                f"{type(tok_tfm).__name__}; to use a tokenizer such as SpacyTokenizer, wrap it: "
                "Tokenizer(tok)"
            )
        if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
            raise ValueError(f"TextBlock: seq_len must be a positive int, got {seq_len!r}")
        type_tfms: list = [
            tok_tfm,
            Numericalize(vocab, min_freq=min_freq, max_vocab=max_vocab, special_toks=special_toks),
        ]
        if backwards:
            type_tfms.append(ReverseText())
        if is_lm:
            dl_type, dls_kwargs = LMDataLoader, {"seq_len": seq_len}
        else:
            dl_type, dls_kwargs = SortedDL, {"before_batch": PadChunk(seq_len=seq_len)}
        super().__init__(type_tfms=type_tfms, dl_type=dl_type, dls_kwargs=dls_kwargs)
        self.is_lm, self.seq_len, self.backwards = is_lm, seq_len, backwards

    @classmethod
    def from_df(
        cls,
        text_cols: Any,
        vocab: Sequence[str] | None = None,
        is_lm: bool = False,
        seq_len: int = 72,
        backwards: bool = False,
        min_freq: int = 3,
        max_vocab: int = 60000,
        tok: Any = None,
        rules: Iterable[Callable] | None = None,
        sep: str = " ",
        n_workers: int | None = None,
        mark_fields: bool | None = None,
        tok_text_col: str = "text",
        **kwargs: Any,
    ) -> TextBlock:
        """Texts in the column(s) `text_cols` of a DataFrame, tokenized once when the data is set up (into
        the column `tok_text_col`; `kwargs` go to `tokenize_df`, e.g. `cache_dir`). Read them with
        `get_x=ColReader(tok_text_col)`."""
        tok_tfm = Tokenizer.from_df(
            text_cols,
            tok=tok,
            rules=rules,
            sep=sep,
            n_workers=defaults.cpus if n_workers is None else n_workers,
            mark_fields=mark_fields,
            tok_text_col=tok_text_col,
            **kwargs,
        )
        return cls(tok_tfm, vocab, is_lm, seq_len, backwards, min_freq, max_vocab)

    @classmethod
    def from_folder(
        cls,
        path: str | os.PathLike,
        vocab: Sequence[str] | None = None,
        is_lm: bool = False,
        seq_len: int = 72,
        backwards: bool = False,
        min_freq: int = 3,
        max_vocab: int = 60000,
        tok: Any = None,
        rules: Iterable[Callable] | None = None,
        **kwargs: Any,
    ) -> TextBlock:
        """The text files under `path`, tokenized now into a folder beside it (`kwargs` go to
        `tokenize_folder`: `extensions`, `folders`, `output_dir`, `n_workers`, `encoding`)."""
        tok_tfm = Tokenizer.from_folder(path, tok=tok, rules=rules, **kwargs)
        return cls(tok_tfm, vocab, is_lm, seq_len, backwards, min_freq, max_vocab)

    def __repr__(self) -> str:
        kind = "language model" if self.is_lm else "classifier"
        return f"TextBlock({kind}, seq_len={self.seq_len}, backwards={self.backwards}, {self.type_tfms[0]!r})"
