"""`Tokenizer`: the transform that turns a text into tokens (and tokens back into readable text).

`Tokenizer(tok)` encodes a string with the pre-rules, `tok` and the post-rules (the rules are fixed when
the transform is made, so a later change of `defaults` does not change an existing pipeline) and returns
an `L` of tokens; a `Path` is read (UTF-8) and tokenized, or, in folder mode, its tokenized copy is read.
Token lists (`list`/`L`) pass through unchanged, which is what the DataFrame mode relies on: there the
whole frame is tokenized once at setup and items arrive already tokenized. `decode` turns tokens back
into readable text with `detokenize` (case, repetitions and spacing restored; see that module for what
round-trips exactly).

- `Tokenizer.from_df(text_cols, tok=None, rules=None, sep=' ', **kwargs)`: setup tokenizes the DataFrame
  (`tokenize_df`, cached; `kwargs` go to it) and records the token `counter`.
- `Tokenizer.from_folder(path, tok=None, rules=None, **kwargs)`: runs `tokenize_folder` now (`kwargs` go to
  it) and reads `counter` and `lengths` from its output.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from lamina.core.basics.collections import L
from lamina.core.plugins.registry import register_class
from lamina.core.transform import Transform
from lamina.text.detokenize import detokenize
from lamina.text.folder import load_folder_counts, tokenize_folder
from lamina.text.parallel import read_text_file, tokenize_chunk
from lamina.text.tokenize import resolve_rules, resolve_tokenizer, tokenize_df

__all__ = ["Tokenizer"]

_MODES = (None, "df", "folder")


@register_class("lamina.text.Tokenizer")
class Tokenizer(Transform):
    """Tokenize texts (see the module docstring). `counter`/`lengths` are set by `from_df`/`from_folder`."""

    def __init__(
        self,
        tok: Any,
        rules: Iterable[Callable] | None = None,
        counter: Counter | None = None,
        lengths: dict | None = None,
        mode: str | None = None,
        sep: str = " ",
        post_rules: Iterable[Callable] | None = None,
    ) -> None:
        super().__init__()
        if mode not in _MODES:
            raise ValueError(f"Tokenizer(mode=...) must be None, 'df' or 'folder', got {mode!r}")
        self.tok = resolve_tokenizer(tok)
        self.rules, self.post_rules = resolve_rules(rules, post_rules)
        self.counter, self.lengths, self.mode, self.sep = counter, lengths, mode, sep
        self.text_cols: list | None = None
        self.kwargs: dict = {}
        self.path: Path | None = None
        self.output_dir: Path | None = None

    # ---- factories ----------------------------------------------------------------------------------
    @classmethod
    def from_df(
        cls,
        text_cols: Any,
        tok: Any = None,
        rules: Iterable[Callable] | None = None,
        sep: str = " ",
        **kwargs: Any,
    ) -> Tokenizer:
        """A tokenizer whose setup tokenizes the `text_cols` of a DataFrame (`kwargs` go to `tokenize_df`)."""
        res = cls(tok, rules=rules, mode="df", sep=sep, post_rules=kwargs.pop("post_rules", None))
        res.text_cols = [text_cols] if isinstance(text_cols, (str, int)) else list(text_cols)
        res.kwargs = {"tok_text_col": "text", **kwargs}
        res.train_setup = False  # the whole frame is tokenized, validation rows included
        return res

    @classmethod
    def from_folder(
        cls, path: str | os.PathLike, tok: Any = None, rules: Iterable[Callable] | None = None, **kwargs: Any
    ) -> Tokenizer:
        """A tokenizer over the folder `path`, tokenized now with `tokenize_folder` (`kwargs` go to it)."""
        path = Path(path)
        tok = resolve_tokenizer(tok)
        post_rules = kwargs.pop("post_rules", None)
        output_dir, counter = tokenize_folder(path, tok=tok, rules=rules, post_rules=post_rules, **kwargs)
        _, lengths = load_folder_counts(output_dir)
        res = cls(tok, rules=rules, counter=counter, lengths=lengths, mode="folder", post_rules=post_rules)
        res.path, res.output_dir = path, output_dir
        return res

    # ---- setup --------------------------------------------------------------------------------------
    def setups(self, items: Any) -> None:
        """DataFrame mode: tokenize the frame (`items`, or `items.items`) and record the token counter;
        otherwise train the tokenizer when it learns from texts (SentencePiece)."""
        if items is None:
            return
        if self.mode == "df":
            frame = items if isinstance(items, pd.DataFrame) else getattr(items, "items", None)
            if not isinstance(frame, pd.DataFrame):
                raise TypeError(
                    f"Tokenizer.from_df: setup needs a DataFrame (or an object whose .items is one), "
                    f"got {type(items).__name__}"
                )
            res, count = tokenize_df(
                frame,
                self.text_cols,
                rules=self.rules,
                post_rules=self.post_rules,
                tok=self.tok,
                **self.kwargs,
            )
            if frame is not items:
                items.items = res
            self.tokenized = res
            if self.counter is None:
                self.counter = count
            return
        setup = getattr(self.tok, "setup", None)
        if callable(setup) and not getattr(self.tok, "is_trained", True):
            texts = [read_text_file(o) if isinstance(o, Path) else o for o in items]
            setup([t for t in texts if isinstance(t, str)], self.rules)

    # ---- encoding / decoding ------------------------------------------------------------------------
    def _tokenize1(self, text: str) -> L:
        return L(tokenize_chunk(0, [text], state=(self.tok, self.rules, self.post_rules))[0], use_list=True)

    def encodes(self, o: str):
        return self._tokenize1(o)

    def encodes(self, o: Path):  # noqa: F811 (a second case of the transform)
        if self.mode == "folder" and self.path is not None and o.is_relative_to(self.path):
            tokenized = self.output_dir / o.relative_to(self.path)
            return L([t for t in tokenized.read_text(encoding="utf-8").split(self.sep) if t], use_list=True)
        return self._tokenize1(read_text_file(o))

    def decodes(self, o: list | L):
        return detokenize(self.tok.tokens_to_words(list(o)))

    # ---- lengths (for loaders that sort by length) ----------------------------------------------------
    def get_lengths(self, items: Any) -> list[int] | None:
        """The token count of each item, when known without tokenizing (DataFrame or folder mode)."""
        if self.mode == "df" and isinstance(items, pd.DataFrame):
            col = f"{self.kwargs.get('tok_text_col', 'text')}_length"
            return items[col].tolist() if col in items.columns else None
        if self.mode == "folder" and self.lengths is not None and self.path is not None:
            try:
                return [self.lengths[Path(i).relative_to(self.path).as_posix()] for i in items]
            except (KeyError, ValueError):
                return None
        return None

    def __repr__(self) -> str:
        n_pre, n_post = len(self.rules), len(self.post_rules)
        return f"Tokenizer({self.tok!r}, mode={self.mode!r}, {n_pre} rules, {n_post} post-rules)"
