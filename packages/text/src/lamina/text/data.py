"""`TextDataLoaders`: the factories that build text `DataLoaders` from a DataFrame, a csv or a folder.

    dls_lm = TextDataLoaders.from_df(df, text_col='text', is_lm=True, valid_col='is_valid')
    dls = TextDataLoaders.from_df(df, text_col='text', label_col='label', valid_col='is_valid',
                                  text_vocab=dls_lm.vocab)
    dls = TextDataLoaders.from_folder(path, valid='test')           # path/train/<label>/*.txt

Each builds a `DataBlock` of a `TextBlock` (and, for a classifier, a target block) and returns its loaders:
an `LMDataLoader` pair for a language model, `SortedDL`s padded in chunks of `seq_len` for a classifier.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from lamina.core.basics.collections import L
from lamina.core.data.block import DataBlock
from lamina.core.data.blocks import CategoryBlock, MultiCategoryBlock
from lamina.core.data.getters import ColReader, get_files, parent_label
from lamina.core.data.loaders import DataLoaders
from lamina.core.data.splitters import ColSplitter, RandomSplitter
from lamina.text import show as _show  # noqa: F401  (registers the text show_batch/show_results)
from lamina.text.blocks import TextBlock

__all__ = ["TextDataLoaders", "get_text_files", "FolderSplitter"]

_DF_TOKENIZE_ARGS = (
    "tok",
    "rules",
    "post_rules",
    "n_workers",
    "mark_fields",
    "cache_dir",
    "min_freq",
    "max_vocab",
)
_FOLDER_TOKENIZE_ARGS = (
    "tok",
    "rules",
    "post_rules",
    "n_workers",
    "output_dir",
    "encoding",
    "min_freq",
    "max_vocab",
)


def get_text_files(
    path: str | os.PathLike, recurse: bool = True, folders: str | Sequence[str] | None = None
) -> L:
    """The `.txt` files under `path` (in `folders` only, when given), sorted."""
    return get_files(path, extensions=[".txt"], recurse=recurse, folders=folders)


def FolderSplitter(
    path: str | os.PathLike, train: str = "train", valid: str = "valid"
) -> Callable[[Sequence], tuple[list[int], list[int]]]:
    """Split files by the first folder under `path` they are in: `train/...` files train, `valid/...` files
    validate (both `train/<label>/x.txt` and a flat `train/x.txt` work); other files are left out."""
    root = Path(path)

    def _split(items: Sequence) -> tuple[list[int], list[int]]:
        tops = []
        for o in items:
            try:
                parts = Path(o).relative_to(root).parts
            except ValueError:
                parts = ()
            tops.append(parts[0] if len(parts) > 1 else None)
        train_idx = [i for i, t in enumerate(tops) if t == train]
        valid_idx = [i for i, t in enumerate(tops) if t == valid]
        if not train_idx or not valid_idx:
            missing = train if not train_idx else valid
            found = sorted({t for t in tops if t is not None})
            raise ValueError(
                f"FolderSplitter: no file under {root / missing}; the folders holding files are {found}. "
                "Name the folders with train=/valid=, or pass valid_pct= to split at random"
            )
        return train_idx, valid_idx

    _split.__name__ = _split.__qualname__ = f"FolderSplitter(train={train!r}, valid={valid!r})"
    return _split


def _column(df: pd.DataFrame, col: Any, what: str) -> Any:
    """`col` as a column label of `df`: a label as it is, an int that is not a label as a position."""
    if col in df.columns:
        return col
    if isinstance(col, int) and not isinstance(col, bool) and -len(df.columns) <= col < len(df.columns):
        return df.columns[col]
    raise KeyError(f"TextDataLoaders.from_df: no {what} column {col!r}; the columns are {list(df.columns)}")


def _columns(df: pd.DataFrame, cols: Any, what: str) -> Any:
    if isinstance(cols, (list, tuple, L)):
        return [_column(df, c, what) for c in cols]
    return _column(df, cols, what)


class TextDataLoaders(DataLoaders):
    """Factories for text `DataLoaders` (see the module docstring); what they return is a `DataLoaders`."""

    @classmethod
    def from_dblock(cls, dblock: Any, source: Any, **kwargs: Any) -> DataLoaders:
        return DataLoaders.from_dblock(dblock, source, **kwargs)

    @classmethod
    def from_df(
        cls,
        df: pd.DataFrame,
        path: str | os.PathLike = ".",
        valid_pct: float = 0.2,
        seed: int | None = None,
        text_col: Any = 0,
        label_col: Any = 1,
        label_delim: str | None = None,
        y_block: Any = None,
        text_vocab: Sequence[str] | None = None,
        is_lm: bool = False,
        valid_col: Any = None,
        tok_tfm: Any = None,
        tok_text_col: str = "text",
        seq_len: int = 72,
        backwards: bool = False,
        **kwargs: Any,
    ) -> DataLoaders:
        """Loaders over the texts in `text_col` (several columns are joined, each marked `xxfld k`) and,
        unless `is_lm`, the labels in `label_col` (`label_delim`: several labels per text; several label
        columns: one flag each) or the target `y_block`. Validation: the rows flagged in `valid_col`, else a
        random `valid_pct` (with `seed`). `text_vocab`: the vocabulary to use (a language model's, to
        fine-tune a classifier on it). Columns are names, or positions when not names. `kwargs` (`bs`,
        `val_bs`, `num_workers`, `device`, ...) go to the loaders, but the tokenizing ones (`tok`, `rules`,
        `post_rules`, `n_workers`, `mark_fields`, `cache_dir`, `min_freq`, `max_vocab`) go to
        `TextBlock.from_df`."""
        if not isinstance(df, pd.DataFrame):
            raise TypeError(
                f"TextDataLoaders.from_df: df must be a pandas DataFrame, got {type(df).__name__}"
            )
        text_col = _columns(df, text_col, "text")
        tok_kwargs = {k: kwargs.pop(k) for k in _DF_TOKENIZE_ARGS if k in kwargs}
        if tok_tfm is None:
            text_block = TextBlock.from_df(
                text_col, text_vocab, is_lm, seq_len, backwards, tok_text_col=tok_text_col, **tok_kwargs
            )
        else:
            text_block = TextBlock(tok_tfm, text_vocab, is_lm, seq_len, backwards)
        blocks: list[Any] = [text_block]
        get_y = None
        if not is_lm:
            label_col = _columns(df, label_col, "label")
            if y_block is None:
                several = isinstance(label_col, list) and len(label_col) > 1
                y_block = MultiCategoryBlock(encoded=True) if several else (
                    MultiCategoryBlock() if label_delim is not None else CategoryBlock()
                )  # fmt: skip
            blocks += list(y_block) if isinstance(y_block, (list, tuple)) else [y_block]
            get_y = ColReader(label_col, label_delim=label_delim)
        if valid_col is not None:
            splitter = ColSplitter(_column(df, valid_col, "validation"))
        else:
            splitter = RandomSplitter(valid_pct, seed=seed)
        get_x = ColReader(tok_text_col) if tok_tfm is None else ColReader(text_col)
        dblock = DataBlock(blocks=blocks, get_x=get_x, get_y=get_y, splitter=splitter)
        return cls.from_dblock(dblock, df, path=path, **kwargs)

    @classmethod
    def from_csv(
        cls,
        path: str | os.PathLike,
        csv_fname: str | os.PathLike = "labels.csv",
        header: int | str | None = "infer",
        delimiter: str | None = None,
        **kwargs: Any,
    ) -> DataLoaders:
        """`from_df` on the csv `path/csv_fname` (`kwargs` go to `from_df`)."""
        fname = Path(path) / csv_fname
        if not fname.is_file():
            raise FileNotFoundError(f"TextDataLoaders.from_csv: no file at {fname}")
        extra = {} if delimiter is None else {"delimiter": delimiter}
        df = pd.read_csv(fname, header=header, **extra)
        return cls.from_df(df, path=path, **kwargs)

    @classmethod
    def from_folder(
        cls,
        path: str | os.PathLike,
        train: str = "train",
        valid: str = "valid",
        valid_pct: float | None = None,
        seed: int | None = None,
        vocab: Sequence[str] | None = None,
        text_vocab: Sequence[str] | None = None,
        is_lm: bool = False,
        tok_tfm: Any = None,
        seq_len: int = 72,
        backwards: bool = False,
        **kwargs: Any,
    ) -> DataLoaders:
        """Loaders over the `.txt` files of `path/train` and `path/valid` (or of all `path` split at random by
        `valid_pct`), labelled by their parent folder (`train/pos/x.txt` -> 'pos') unless `is_lm`. `vocab`:
        the labels; `text_vocab`: the vocabulary. The texts are tokenized once into `<path>_tok` beside `path`
        (give `output_dir=` to put them elsewhere). The tokenizing `kwargs` (`tok`, `rules`, `post_rules`,
        `n_workers`, `output_dir`, `encoding`, `min_freq`, `max_vocab`) go to `TextBlock.from_folder`, the
        others to the loaders."""
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"TextDataLoaders.from_folder: no folder at {path}")
        folders = None if valid_pct is not None else [train, valid]
        tok_kwargs = {k: kwargs.pop(k) for k in _FOLDER_TOKENIZE_ARGS if k in kwargs}
        if tok_tfm is None:
            text_block = TextBlock.from_folder(
                path, text_vocab, is_lm, seq_len, backwards, folders=folders, **tok_kwargs
            )
        else:
            text_block = TextBlock(tok_tfm, text_vocab, is_lm, seq_len, backwards)
        blocks: list[Any] = [text_block]
        if not is_lm:
            blocks.append(CategoryBlock(vocab=vocab))
        splitter = (
            FolderSplitter(path, train, valid) if valid_pct is None else RandomSplitter(valid_pct, seed)
        )

        def get_items(source: Path) -> L:
            return get_text_files(source, folders=folders)

        dblock = DataBlock(
            blocks=blocks, get_items=get_items, splitter=splitter, get_y=None if is_lm else parent_label
        )
        return cls.from_dblock(dblock, path, path=path, **kwargs)
