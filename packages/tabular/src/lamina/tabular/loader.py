"""`TabDataLoader`: batches of a processed table, cut from tensors made once.

The processed columns become three tensors when the loader is built: the categorical codes (int64,
`(rows, n_cat)`), the continuous values (float32, `(rows, n_cont)`) and the targets (int64 class indices
`(rows,)`, or float32 `(rows, n_targets)`). A batch is those tensors indexed by the batch's row indices
(the kernel `DataLoader`'s `create_batch` hook), `(x_cat, x_cont, y)`, or `(x_cat, x_cont)` for rows
without targets. No row is ever built one at a time.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from lamina.core.data.load import DataLoader
from lamina.tabular.checks import row_label
from lamina.tabular.show import show_batch as show_batch_dispatch  # registers the tabular cases
from lamina.tabular.show import show_results as show_results_dispatch
from lamina.tabular.table import Tabular
from lamina.tabular.targets import CategorizeTarget

__all__ = ["TabularTensors", "TabDataLoader"]


def _cat_codes(to: Tabular) -> np.ndarray:
    for name in to.cat_names:
        dtype = to.items[name].dtype
        if not pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            raise TypeError(
                f"TabDataLoader: categorical column {name!r} holds {dtype} values, not class indices; add "
                "Categorify to procs so that each category becomes an index into its vocabulary"
            )
    return to.items[to.cat_names].to_numpy(dtype=np.int64).reshape(len(to), len(to.cat_names))


def _cont_values(to: Tabular) -> np.ndarray:
    frame = to.items[to.cont_names]
    values = frame.to_numpy(dtype=np.float32, na_value=np.nan).reshape(len(to), len(to.cont_names))
    missing = np.isnan(values)
    if missing.any():
        col = int(np.flatnonzero(missing.any(0))[0])
        row = row_label(to.items.index, int(np.flatnonzero(missing[:, col])[0]))
        raise ValueError(
            f"TabDataLoader: continuous column {to.cont_names[col]!r} has {int(missing[:, col].sum())} "
            f"missing value(s) (e.g. row {row!r}); add FillMissing to procs"
        )
    return values


def _target_values(to: Tabular) -> np.ndarray | None:
    if not to.has_targets:
        return None
    if isinstance(to.target, CategorizeTarget):
        name = to.y_names[0]
        dtype = to.items[name].dtype
        if not pd.api.types.is_integer_dtype(dtype):
            raise TypeError(f"TabDataLoader: target column {name!r} holds {dtype} values, not class indices")
        return to.items[name].to_numpy(dtype=np.int64)
    return to.items[to.y_names].to_numpy(dtype=np.float32).reshape(len(to), len(to.y_names))


@dataclass(frozen=True)
class TabularTensors:
    """The tensors of a processed table: `cats` (int64), `conts` (float32) and `ys` (None without targets)."""

    cats: Tensor
    conts: Tensor
    ys: Tensor | None

    @classmethod
    def from_tabular(cls, to: Tabular) -> TabularTensors:
        """Convert the processed columns of `to`, checking that they are ready for a model."""
        if not to.processed:
            raise RuntimeError(
                "TabDataLoader: the table is not processed; call setup() (or process() for new rows) first: "
                f"{to!r}"
            )
        ys = _target_values(to)
        return cls(  # torch.tensor copies: the arrays may be read-only views of the DataFrame
            torch.tensor(_cat_codes(to)),
            torch.tensor(_cont_values(to)),
            None if ys is None else torch.tensor(ys),
        )

    def __len__(self) -> int:
        return len(self.cats)

    def batch(self, idx: Tensor) -> tuple[Tensor, ...]:
        """The rows `idx` of each tensor: `(cats, conts, ys)`, or `(cats, conts)` without targets."""
        if self.ys is None:
            return self.cats[idx], self.conts[idx]
        return self.cats[idx], self.conts[idx], self.ys[idx]


class TabDataLoader(DataLoader):
    """A `DataLoader` over a processed `Tabular` (its `dataset`), whose batches are `(x_cat, x_cont, y)`.

    The tensors are made once (`tensors`, reused by `new()` for the same table); each batch indexes them
    with its row indices. Keywords go to the kernel `DataLoader` (`shuffle`, `drop_last`, `num_workers`,
    `device`, `seed`, ...). `decode(b)` gives a batch back as a decoded table; `show_batch` and
    `show_results` display decoded rows as a DataFrame and return it.
    """

    n_inp = 2

    def __init__(
        self,
        dataset: Tabular,
        bs: int = 64,
        shuffle: bool = False,
        drop_last: bool = False,
        tensors: TabularTensors | None = None,
        **kwargs: Any,
    ):
        if not isinstance(dataset, Tabular):
            raise TypeError(
                "TabDataLoader expects a processed Tabular (e.g. TabularPandas), got "
                f"{type(dataset).__name__}"
            )
        if bs is None:
            raise ValueError(
                "TabDataLoader needs a batch size (bs=None would give rows without a batch axis)"
            )
        self.tensors = TabularTensors.from_tabular(dataset) if tensors is None else tensors
        if len(self.tensors) != len(dataset):
            raise ValueError(
                f"TabDataLoader: {len(self.tensors)} tensor rows for a table of {len(dataset)} rows"
            )
        kwargs["indexed"] = True
        super().__init__(dataset, bs=bs, shuffle=shuffle, drop_last=drop_last, **kwargs)

    # ---- hooks ---------------------------------------------------------------------------------------
    def create_item(self, s: int) -> int:
        """An item is its row index; the batch is cut from the tensors in `create_batch`."""
        return s

    def create_batch(self, items: Sequence[int]) -> tuple[Tensor, ...]:
        """The rows `items` of the table's tensors."""
        return self.tensors.batch(torch.as_tensor(items, dtype=torch.long))

    def retain(self, res: Any, items: Any) -> Any:
        """Batches are plain tensors: nothing to restore."""
        return res

    def new(self, dataset: Tabular | None = None, **kwargs: Any) -> TabDataLoader:
        """A copy with changes (see `DataLoader.new`); the tensors are reused for the same table."""
        kwargs.setdefault("tensors", self.tensors if dataset is None else None)
        return super().new(dataset, **kwargs)

    # ---- decoding and showing ------------------------------------------------------------------------
    def _frame(self, b: Sequence[Tensor], max_n: int | None) -> pd.DataFrame:
        to: Tabular = self.dataset
        cats, conts = (t[:max_n].detach().cpu().numpy() for t in b[:2])
        columns: dict[Hashable, Any] = {n: cats[:, j] for j, n in enumerate(to.cat_names)}
        columns.update({n: conts[:, j] for j, n in enumerate(to.cont_names)})
        if len(b) > 2 and to.y_names:
            ys = b[2][:max_n].detach().cpu().numpy()
            ys = ys.reshape(len(ys), -1)
            columns.update({n: ys[:, j] for j, n in enumerate(to.y_names)})
        return pd.DataFrame(columns)

    def decode(self, b: Sequence[Tensor], max_n: int | None = None) -> Tabular:
        """Batch `b` (its first `max_n` rows) as a decoded table: labels, un-normalized values."""
        if not isinstance(b, (tuple, list)) or len(b) < 2:
            raise TypeError("TabDataLoader.decode expects a batch (x_cat, x_cont[, y])")
        return self.dataset.encoded(self._frame(b, max_n)).decode()

    def show_batch(
        self, b: Sequence[Tensor] | None = None, max_n: int = 10, show: bool = True, **kwargs: Any
    ):
        """The first `max_n` rows of batch `b` (default: `one_batch()`) decoded, as a DataFrame of the input
        and target columns; displayed when `show`."""
        decoded = self.decode(self.one_batch() if b is None else b, max_n)
        return show_batch_dispatch(decoded, None, None, max_n=max_n, show=show, **kwargs)

    def show_results(self, b: Sequence[Tensor], out: Any, max_n: int = 10, show: bool = True, **kwargs: Any):
        """Batch `b` decoded with the predictions `out` (decoded predictions: class indices, or scores
        which are argmaxed / thresholded; values for a regression) in `<target>_pred` columns."""
        decoded = self.decode(b, max_n)
        preds = self.decode_preds(out, max_n)
        return show_results_dispatch(decoded, preds, None, None, max_n=max_n, show=show, **kwargs)

    def decode_preds(self, out: Any, max_n: int | None = None) -> pd.DataFrame:
        """Predictions `out` as a DataFrame of `<target>_pred` columns (labels, values or bools)."""
        to: Tabular = self.dataset
        if to.target is None:
            raise ValueError("TabDataLoader.decode_preds: the table has no target to decode predictions for")
        values = out.detach().cpu().numpy() if isinstance(out, Tensor) else np.asarray(out)
        values = values[:max_n]
        decoded = to.target.decode_preds(values)
        if isinstance(to.target, CategorizeTarget):
            return pd.DataFrame({f"{to.y_names[0]}_pred": decoded})
        matrix = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
        if to.c is not None and matrix.shape[1] != len(to.y_names):
            raise ValueError(
                f"TabDataLoader.decode_preds: predictions have {matrix.shape[1]} columns for "
                f"{len(to.y_names)} targets {to.y_names}"
            )
        if getattr(to.target, "vocab", None) is not None:  # multi-label: one bool per label
            return pd.DataFrame({f"{n}_pred": matrix[:, j] > 0.5 for j, n in enumerate(to.y_names)})
        return pd.DataFrame({f"{n}_pred": matrix[:, j] for j, n in enumerate(to.y_names)})
