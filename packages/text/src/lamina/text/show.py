"""`show_batch` / `show_results` for texts: a table of decoded texts, targets and predictions.

These join the kernel's type-dispatched `show_batch` / `show_results` (importing this module registers
them) for batches whose input is a `TensorText`. The table is a pandas DataFrame with the columns `text`,
then `category` (a classifier's label; `category0`, ... for several targets) or `text_` (a language
model's target: the same text one token later), then, for `show_results`, `category_pred` / `text_pred`.
Texts are cut to their first `trunc_at` words. In a notebook the table is displayed as HTML; in a console it
is printed with the texts wrapped; it is returned either way.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

import pandas as pd

from lamina.core.dispatch import typedispatch
from lamina.text.tensors import LMTensorText, TensorText

__all__ = ["show_batch", "show_results", "texts_table", "format_texts_table", "display_texts"]

_TEXT_WIDTH = 88
_CELL_WIDTH = 30


def _truncate(value: Any, trunc_at: int | None) -> Any:
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        value = ";".join(value)  # several labels
    if not isinstance(value, str):
        return value
    if trunc_at is None:
        return value
    words = value.split(" ")
    return value if len(words) <= trunc_at else " ".join(words[:trunc_at]) + " ..."


def _target_names(is_lm: bool, n: int) -> list[str]:
    base = "text_" if is_lm else "category"
    return [base] if n == 1 else [f"{base}{i}" for i in range(n)]


def texts_table(
    samples: Sequence[Any],
    outs: Sequence[Any] | None = None,
    is_lm: bool = False,
    max_n: int = 10,
    trunc_at=150,
) -> pd.DataFrame:
    """The DataFrame of `show_batch`/`show_results`: decoded samples `(text, target...)`, with the decoded
    predictions `outs` (one tuple per sample) when given."""
    rows = []
    n_targets = n_preds = 0
    for k, s in enumerate(list(samples)[:max_n]):
        parts = list(s) if isinstance(s, tuple) else [s]
        n_targets = max(n_targets, len(parts) - 1)
        row = [_truncate(p, trunc_at) for p in parts]
        if outs is not None:
            o = outs[k]
            preds = list(o) if isinstance(o, tuple) else [o]
            n_preds = max(n_preds, len(preds))
            row += [_truncate(p, trunc_at) for p in preds]
        rows.append(row)
    names = ["text", *_target_names(is_lm, n_targets)] if n_targets else ["text"]
    if n_preds:
        pred_base = "text_pred" if is_lm else "category_pred"
        names += [pred_base] if n_preds == 1 else [f"{pred_base}{i}" for i in range(n_preds)]
    return pd.DataFrame([r + [None] * (len(names) - len(r)) for r in rows], columns=names)


def format_texts_table(df: pd.DataFrame, width: int = _TEXT_WIDTH) -> str:
    """`df` as console text: one block per row, the text columns wrapped to `width`, the others aligned beside
    the first line."""
    text_cols = [c for c in df.columns if c.startswith("text")]
    other_cols = [c for c in df.columns if c not in text_cols]
    widths = {c: min(_CELL_WIDTH, max([len(c)] + [len(str(v)) for v in df[c]])) for c in other_cols}
    header = "  ".join(
        ["#".ljust(3), "text".ljust(width)] + [c.ljust(widths[c]) for c in other_cols]
    ).rstrip()
    lines = [header, "-" * len(header)]
    for i, row in df.iterrows():
        first = True
        for c in text_cols:
            label = "" if c == "text" else f"[{c}] "
            wrapped = textwrap.wrap(label + str(row[c]), width) or [""]
            for line in wrapped:
                cells = [str(i).ljust(3) if first else "   ", line.ljust(width)]
                if first:
                    cells += [str(row[c2])[: widths[c2]].ljust(widths[c2]) for c2 in other_cols]
                lines.append("  ".join(cells).rstrip())
                first = False
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def display_texts(df: pd.DataFrame) -> None:
    """Show `df`: as HTML in a notebook (IPython's display), else printed by `format_texts_table`."""
    try:
        from IPython import get_ipython  # only present in IPython sessions

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None and hasattr(shell, "kernel"):
        from IPython.display import HTML, display

        display(HTML(df.to_html(index=False)))
    else:
        print(format_texts_table(df))


@typedispatch
def show_batch(
    x: TensorText,
    y: Any,
    samples: Sequence[Any],
    ctxs: Any = None,
    max_n: int = 10,
    trunc_at: int | None = 150,
    show: bool = True,
    **kwargs: Any,
) -> pd.DataFrame:
    """The decoded texts of a batch (with their targets) as a table (see the module docstring)."""
    df = texts_table(samples, is_lm=isinstance(x, LMTensorText), max_n=max_n, trunc_at=trunc_at)
    if show:
        display_texts(df)
    return df


@typedispatch
def show_results(
    x: TensorText,
    y: Any,
    samples: Sequence[Any],
    outs: Sequence[Any],
    ctxs: Any = None,
    max_n: int = 10,
    trunc_at: int | None = 150,
    show: bool = True,
    **kwargs: Any,
) -> pd.DataFrame:
    """The decoded texts of a batch with their targets and the decoded predictions, as a table."""
    df = texts_table(samples, outs, is_lm=isinstance(x, LMTensorText), max_n=max_n, trunc_at=trunc_at)
    if show:
        display_texts(df)
    return df
