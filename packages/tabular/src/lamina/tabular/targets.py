"""Target procs, chosen from the `y_block`: classification, regression and multi-label targets.

- `CategoryBlock()` -> `CategorizeTarget`: one column of labels -> class indices (vocabulary learned on the
  training rows; a single class is an error; a label the training rows never had is an error, or `'#na#'`
  with `add_na=True`).
- `RegressionBlock()` -> `RegressionTarget`: one or more numeric columns -> float32.
- `MultiCategoryBlock(encoded=True, vocab=y_names)` -> `MultiLabelTarget`: one 0/1 column per label.

Without a `y_block` the target is a regression when every target column is numeric, else a classification
(fastai's rule: pass `y_block=CategoryBlock()` for integer class labels). A test set without the target
columns is left alone.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from lamina.core.data.blocks import TransformBlock
from lamina.core.data.transforms import (
    NA_LABEL,
    Categorize,
    CategoryMap,
    EncodedMultiCategorize,
    MultiCategorize,
    RegressionSetup,
    UnknownLabelError,
)
from lamina.core.losses import CrossEntropyLossFlat, MSELossFlat
from lamina.core.plugins.registry import register_class
from lamina.tabular.checks import numeric_column, row_label
from lamina.tabular.procs import category_codes, category_vocab, decode_categories, sort_labels
from lamina.tabular.table import Tabular, TabularProc

__all__ = ["CategorizeTarget", "RegressionTarget", "MultiLabelTarget", "target_proc_for"]

_SHOWN = 10


def _first_rows(mask: np.ndarray, index: pd.Index) -> str:
    rows = [row_label(index, int(i)) for i in np.flatnonzero(mask)[:_SHOWN]]
    more = f" and {int(mask.sum()) - len(rows)} more" if mask.sum() > len(rows) else ""
    return f"{rows!r}{more}"


def _check_no_missing(to: Tabular, name: Hashable, who: str) -> None:
    isna = to.items[name].isna().to_numpy()
    if isna.any():
        raise ValueError(
            f"{who}: target column {name!r} has missing values at rows {_first_rows(isna, to.items.index)}; "
            "drop those rows (e.g. df.dropna(subset=[...])) before building the table"
        )


@register_class("lamina.tabular.CategorizeTarget")
class CategorizeTarget(TabularProc):
    """A single-label target column -> class indices into `vocab` (learned on the training rows, sorted
    when `sort`, unless given); decodes to the labels. `c` is the number of classes."""

    order = 2

    def __init__(self, vocab: Sequence | None = None, sort: bool = True, add_na: bool = False):
        super().__init__()
        self.sort, self.add_na = sort, add_na
        self.vocab: CategoryMap | None = (
            None if vocab is None else CategoryMap(vocab, sort=sort, add_na=add_na)
        )

    @property
    def c(self) -> int | None:
        return None if self.vocab is None else len(self.vocab)

    @staticmethod
    def _column(to: Tabular) -> Hashable:
        if len(to.y_names) != 1:
            raise ValueError(
                "CategorizeTarget (CategoryBlock) takes exactly one target column, got "
                f"y_names={to.y_names}; "
                "for several 0/1 label columns use y_block=MultiCategoryBlock(encoded=True, vocab=y_names)"
            )
        return to.y_names[0]

    def setups(self, to: Tabular) -> None:
        name = self._column(to)
        _check_no_missing(to, name, "CategorizeTarget.setups")
        if self.vocab is None:
            self.vocab = category_vocab(to.items[name], add_na=self.add_na, sort=self.sort)
        classes = [o for o in self.vocab.items if not (self.add_na and o == NA_LABEL)]
        if len(classes) < 2:
            found = f"the single class {classes[0]!r}" if classes else "no class"
            raise ValueError(
                f"CategorizeTarget: target column {name!r} has {found} in the training rows; a classifier "
                "needs at least two classes (check the target column and the split)"
            )

    def encode_table(self, to: Tabular) -> None:
        if not to.has_targets:
            return
        name = self._column(to)
        if self.vocab is None:
            raise RuntimeError("CategorizeTarget has no vocabulary: set it up on the training rows first")
        _check_no_missing(to, name, "CategorizeTarget")
        col = to.items[name]
        offset = 1 if self.add_na else 0
        known = list(self.vocab.items[offset:])
        codes = category_codes(col, known)
        unknown = codes < 0
        if unknown.any() and not self.add_na:
            labels = sort_labels({o for o in pd.unique(col[unknown].to_numpy(dtype=object))})
            raise UnknownLabelError(
                f"CategorizeTarget: target column {name!r} holds label(s) {labels[:_SHOWN]!r} that the "
                f"training rows never had (rows {_first_rows(unknown, col.index)}); the vocabulary is "
                f"{list(self.vocab)}. Pass y_block=CategoryBlock(vocab=[...]) with every class, or "
                "add_na=True to map them to '#na#'"
            )
        to.items[name] = np.where(unknown, 0, codes + offset)

    def decode_table(self, to: Tabular) -> None:
        if to.has_targets and self.vocab is not None:
            name = self._column(to)
            to.items[name] = decode_categories(to.items[name], self.vocab, name)

    def decode_preds(self, preds: Any) -> list:
        """Labels of predicted class indices (or of class scores, by argmax along the last axis)."""
        idx = np.asarray(preds)
        if idx.ndim == 2:
            idx = idx.argmax(-1)
        return list(decode_categories(idx.reshape(-1), self.vocab, "prediction"))


@register_class("lamina.tabular.RegressionTarget")
class RegressionTarget(TabularProc):
    """One or more numeric target columns -> float32 (nothing to decode). `c` is the number of columns."""

    order = 2

    def __init__(self):
        super().__init__()
        self.c: int | None = None

    def setups(self, to: Tabular) -> None:
        self.c = len(to.y_names)

    def encode_table(self, to: Tabular) -> None:
        if not to.has_targets:
            return
        for name in to.y_names:
            col = numeric_column(to.items[name], "y_names", "RegressionTarget")
            to.items[name] = col
            _check_no_missing(to, name, "RegressionTarget")
            to.items[name] = col.to_numpy(dtype=np.float32)

    def decode_preds(self, preds: Any) -> list:
        """Predicted values, one entry per row (a float, or an array for several targets)."""
        values = np.asarray(preds, dtype=np.float64)
        values = values.reshape(len(values), -1)
        return [float(v[0]) if v.size == 1 else v for v in values]


@register_class("lamina.tabular.MultiLabelTarget")
class MultiLabelTarget(TabularProc):
    """One 0/1 (or bool) target column per label -> float32 multi-hot targets; decodes to bools. `vocab` is
    the labels (default: the target column names); `c` their number."""

    order = 2

    def __init__(self, vocab: Sequence | None = None):
        super().__init__()
        self.vocab: CategoryMap | None = None if vocab is None else CategoryMap(vocab, sort=False)

    @property
    def c(self) -> int | None:
        return None if self.vocab is None else len(self.vocab)

    def setups(self, to: Tabular) -> None:
        if self.vocab is None:
            self.vocab = CategoryMap(list(to.y_names), sort=False)
        if len(self.vocab) != len(to.y_names):
            raise ValueError(
                f"MultiLabelTarget: the vocab has {len(self.vocab)} labels {list(self.vocab)} but there are "
                f"{len(to.y_names)} target columns {to.y_names}; give one 0/1 column per label"
            )

    def encode_table(self, to: Tabular) -> None:
        if not to.has_targets:
            return
        for name in to.y_names:
            col = numeric_column(to.items[name], "y_names", "MultiLabelTarget")
            values = col.to_numpy(dtype=np.float64, na_value=np.nan)
            bad = ~np.isin(values, (0.0, 1.0))
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                value = to.items[name].iloc[row : row + 1].tolist()[0]
                raise ValueError(
                    f"MultiLabelTarget: target column {name!r} must hold 0/1 (or bools), but row "
                    f"{row_label(to.items.index, row)!r} holds {value!r}"
                )
            to.items[name] = values.astype(np.float32)

    def decode_table(self, to: Tabular) -> None:
        if to.has_targets:
            for name in to.y_names:
                to.items[name] = to.items[name].to_numpy() > 0.5

    def decode_preds(self, preds: Any, thresh: float = 0.5) -> list:
        """The labels predicted for each row (scores above `thresh`; give probabilities)."""
        scores = np.asarray(preds).reshape(len(preds), -1)
        labels = np.asarray(list(self.vocab.items), dtype=object)
        return [list(labels[row > thresh]) for row in scores]


def _block_of(y_block: Any) -> TransformBlock:
    if isinstance(y_block, TransformBlock):
        return y_block
    if callable(y_block):  # a block factory or class given without calling it: CategoryBlock
        block = y_block()
        if isinstance(block, TransformBlock):
            return block
    raise TypeError(
        "y_block must be a block such as CategoryBlock(), RegressionBlock() or "
        f"MultiCategoryBlock(encoded=True, vocab=y_names), got {y_block!r}"
    )


def _default_block(df: pd.DataFrame, y_names: list[Hashable]) -> TransformBlock:
    numeric = all(
        pd.api.types.is_numeric_dtype(df[n].dtype) and not pd.api.types.is_bool_dtype(df[n].dtype)
        for n in y_names
    )
    if numeric:
        return TransformBlock(type_tfms=RegressionSetup(), loss_func=MSELossFlat())
    return TransformBlock(type_tfms=Categorize(), loss_func=CrossEntropyLossFlat())


def target_proc_for(
    y_block: Any, df: pd.DataFrame, y_names: list[Hashable]
) -> tuple[TabularProc | None, Any]:
    """The target proc and the default loss for `y_block` (inferred from the target columns when None)."""
    if not y_names:
        if y_block is not None:
            raise ValueError("a y_block was given without y_names: name the target column(s) in y_names")
        return None, None
    block = _default_block(df, y_names) if y_block is None else _block_of(y_block)
    tfms = list(block.type_tfms)
    multi = next((t for t in tfms if isinstance(t, (EncodedMultiCategorize, MultiCategorize))), None)
    if multi is not None:
        if not isinstance(multi, EncodedMultiCategorize) and len(y_names) == 1:
            raise ValueError(
                f"a multi-label target needs one 0/1 column per label, but y_names={y_names} names one "
                "column; expand a column of label lists first (e.g. df['tags'].str.get_dummies(';')) and "
                "use y_block=MultiCategoryBlock(encoded=True, vocab=<the new columns>)"
            )
        return MultiLabelTarget(vocab=multi.vocab), block.loss_func
    single = next((t for t in tfms if isinstance(t, Categorize)), None)
    if single is not None:
        if len(y_names) != 1:
            raise ValueError(
                f"a classification target (CategoryBlock) takes one column, got y_names={y_names}; for "
                "several 0/1 label columns use y_block=MultiCategoryBlock(encoded=True, vocab=y_names)"
            )
        vocab = None if single.vocab is None else list(single.vocab)
        if vocab is not None and single.add_na:
            vocab = [o for o in vocab if o != NA_LABEL]
        return CategorizeTarget(vocab=vocab, sort=single.sort, add_na=single.add_na), block.loss_func
    if any(isinstance(t, RegressionSetup) for t in tfms):
        return RegressionTarget(), block.loss_func
    raise TypeError(
        f"y_block {block!r} is not a target block the tabular package knows: use CategoryBlock(), "
        "RegressionBlock() or MultiCategoryBlock(encoded=True, vocab=y_names)"
    )
