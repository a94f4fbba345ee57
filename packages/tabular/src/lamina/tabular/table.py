"""`Tabular`: a DataFrame with named column roles, a train/valid split and the procs that process it;
`TabularProc`: the base of those procs.

A proc learns its state (a vocabulary, statistics) from the TRAINING rows only, then processes every row
in place. `to.new(df)` + `to.process()` applies the same, already learned, procs to new rows (a test set).
"""

from __future__ import annotations

import sys
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from lamina.core.pipeline import Pipeline
from lamina.core.transform import InplaceTransform
from lamina.tabular.checks import check_columns, numeric_column

__all__ = ["Tabular", "TabularProc", "display_df"]

_SPLIT_NAMES = {None: "all", 0: "train", 1: "valid"}


def display_df(df: pd.DataFrame) -> None:
    """Show `df`: as HTML in a notebook (IPython's display), else printed as text."""
    ipython = sys.modules.get("IPython")  # imported already in an IPython session, never imported here
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None and hasattr(shell, "kernel"):  # a notebook kernel, not the terminal shell
        from IPython.display import display

        display(df)
    else:
        print(df.to_string())


class Tabular:
    """A DataFrame (`items`) whose columns play roles: categorical (`cat_names`), continuous
    (`cont_names`) and targets (`y_names`), processed by `procs` (a `Pipeline` of `TabularProc`s).

    The rows are ordered training rows first (`n_train` of them), then validation rows (`n_valid`);
    `to.train` / `to.valid` are those rows as tables sharing the procs. `setup()` lets each proc learn on the
    training rows and process the whole table; `process()` applies procs that were set up already. The
    table owns `items`: use `TabularPandas` to build one from a user's DataFrame (copy, checks, splits).
    """

    def __init__(
        self,
        items: pd.DataFrame,
        procs: Pipeline,
        cat_names: list[Hashable],
        cont_names: list[Hashable],
        y_names: list[Hashable],
        n_train: int,
        target: TabularProc | None = None,
        loss_func: Any = None,
        device: Any = None,
    ):
        self.items, self.procs = items, procs
        self.cat_names, self.cont_names, self.y_names = list(cat_names), list(cont_names), list(y_names)
        self._input_cat_names = list(cat_names)  # before procs add columns (e.g. FillMissing's `_na`)
        self.n_train = n_train
        self.target, self.loss_func, self.device = target, loss_func, device
        self.split_idx: int | None = None
        self.processed = False

    # ---- names and columns -----------------------------------------------------------------------
    @property
    def x_names(self) -> list[Hashable]:
        """The input columns: categorical then continuous."""
        return self.cat_names + self.cont_names

    @property
    def all_col_names(self) -> list[Hashable]:
        """Input then target columns."""
        return self.x_names + self.y_names

    @property
    def has_targets(self) -> bool:
        """Whether the rows hold every target column (a test set may have none)."""
        return bool(self.y_names) and all(n in self.items.columns for n in self.y_names)

    @property
    def xs(self) -> pd.DataFrame:
        """The input columns."""
        return self.items[self.x_names]

    @property
    def ys(self) -> pd.DataFrame:
        """The target columns."""
        return self.items[self.y_names]

    @property
    def targ(self) -> pd.DataFrame:
        """Alias of `ys`."""
        return self.ys

    @property
    def cats(self) -> pd.DataFrame:
        """The categorical columns."""
        return self.items[self.cat_names]

    @cats.setter
    def cats(self, values: Any) -> None:
        self.items[self.cat_names] = values

    @property
    def conts(self) -> pd.DataFrame:
        """The continuous columns."""
        return self.items[self.cont_names]

    @conts.setter
    def conts(self, values: Any) -> None:
        self.items[self.cont_names] = values

    # ---- what the procs learned ------------------------------------------------------------------
    @property
    def classes(self) -> dict[Hashable, Any]:
        """The vocabulary of each categorical column (learned by `Categorify`), `'#na#'` first."""
        found: dict[Hashable, Any] = {}
        for p in self.procs:
            found.update(getattr(p, "classes", None) or {})
        return found

    @property
    def vocab(self) -> Any:
        """The target's classes (classification, multi-label), else None."""
        return getattr(self.target, "vocab", None)

    @property
    def c(self) -> int | None:
        """How many outputs a model needs for the target: classes, labels or regression columns."""
        return getattr(self.target, "c", None)

    # ---- rows ------------------------------------------------------------------------------------
    @property
    def n_valid(self) -> int:
        """How many validation rows follow the training rows."""
        return len(self.items) - self.n_train

    @property
    def splits(self) -> tuple[range, range]:
        """Positions of the training rows and of the validation rows."""
        return range(self.n_train), range(self.n_train, len(self.items))

    def __len__(self) -> int:
        return len(self.items)

    def _derived(self, items: pd.DataFrame, split_idx: int | None, n_train: int | None = None) -> Tabular:
        """A table over `items` sharing this one's procs, names and state."""
        res = object.__new__(type(self))
        res.__dict__.update(self.__dict__)
        res.items, res.split_idx = items, split_idx
        res.cat_names, res.cont_names, res.y_names = (
            list(self.cat_names),
            list(self.cont_names),
            list(self.y_names),
        )
        res._input_cat_names = list(self._input_cat_names)
        res.n_train = len(items) if n_train is None else n_train
        return res

    def subset(self, i: int) -> Tabular:
        """The training (`i=0`) or validation (`i=1`) rows, as a table sharing the procs."""
        if i not in (0, 1):
            raise IndexError(f"Tabular.subset({i!r}): 0 is the training set and 1 the validation set")
        rows = slice(0, self.n_train) if i == 0 else slice(self.n_train, len(self.items))
        return self._derived(self.items.iloc[rows], split_idx=i)

    @property
    def train(self) -> Tabular:
        """The training rows (all rows when there is no split)."""
        return self.subset(0)

    @property
    def valid(self) -> Tabular:
        """The validation rows (none when there is no split)."""
        return self.subset(1)

    @property
    def iloc(self) -> _RowIndexer:
        """`to.iloc[rows]`: the table restricted to rows (positions, a slice or a mask)."""
        return _RowIndexer(self)

    # ---- processing ------------------------------------------------------------------------------
    def _check_inputs(self, step: str) -> None:
        """Make the continuous columns numeric, naming a column that holds something else."""
        for name in self.cont_names:
            col = self.items[name]
            converted = numeric_column(col, "cont_names", step)
            if converted is not col:
                self.items[name] = converted

    def setup(self) -> Tabular:
        """Each proc, in order, learns from the training rows and then processes every row."""
        if self.processed:
            raise RuntimeError(f"{type(self).__name__}.setup: the table is processed already")
        self._check_inputs(f"{type(self).__name__}.setup")
        self.procs.setup(self)
        self.processed = True
        return self

    def process(self) -> Tabular:
        """Apply the (already set up) procs to every row, in place; returns the table."""
        if self.processed:
            raise RuntimeError(
                f"{type(self).__name__}.process: the table is processed already (processing twice would "
                "encode codes again); start from `to.new(df)`"
            )
        self._check_inputs(f"{type(self).__name__}.process")
        self.procs(self)
        self.processed = True
        return self

    def new(self, df: pd.DataFrame, inplace: bool = False) -> Tabular:
        """A table over the new rows `df` with this table's (set up) procs and names and no split; call
        `process()` on it. The target columns may be missing (a test set)."""
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"{type(self).__name__}.new expects a pandas DataFrame, got {type(df).__name__}")
        step = f"{type(self).__name__}.new"
        check_columns(df, self._input_cat_names, "cat_names", step)
        check_columns(df, self.cont_names, "cont_names", step)
        res = self._derived(df if inplace else df.copy(), split_idx=None)
        res.cat_names = list(self._input_cat_names)
        res.processed = False
        return res

    def encoded(self, frame: pd.DataFrame) -> Tabular:
        """A processed table over `frame`, whose columns already hold encoded values (e.g. a batch)."""
        res = self._derived(frame, split_idx=None)
        res.processed = True
        return res

    def decode(self) -> Tabular:
        """A copy of the table with the procs undone, last first: categories as labels, continuous
        values un-normalized, targets as labels."""
        res = self._derived(self.items.copy(), split_idx=self.split_idx, n_train=self.n_train)
        if self.processed:
            self.procs.decode(res)
        res.processed = False
        return res

    def show(self, max_n: int = 10, show: bool = True) -> pd.DataFrame:
        """The first `max_n` rows, decoded (input and target columns), displayed when `show`; returns them."""
        head = self.iloc[:max_n].decode()
        columns = [c for c in head.all_col_names if c in head.items.columns]
        df = head.items[columns]
        if show:
            display_df(df)
        return df

    def dataloaders(self, bs: int = 64, **kwargs: Any) -> Any:
        """`TabularDataLoaders` over the training and validation rows; see
        `TabularDataLoaders.from_tabular` for the keyword arguments."""
        from lamina.tabular.data import TabularDataLoaders  # the loaders build on this module

        return TabularDataLoaders.from_tabular(self, bs=bs, **kwargs)

    def __repr__(self) -> str:
        part = _SPLIT_NAMES.get(self.split_idx, str(self.split_idx))
        split = f"{self.n_train} train / {self.n_valid} valid" if self.split_idx is None else part
        state = "processed" if self.processed else "not processed"
        return (
            f"{type(self).__name__}: {len(self)} rows ({split}; {state}); cat_names={self.cat_names}, "
            f"cont_names={self.cont_names}, y_names={self.y_names}; {self.procs!r}"
        )


class _RowIndexer:
    """`to.iloc`: rows of a table by position."""

    def __init__(self, table: Tabular):
        self.table = table

    def __getitem__(self, rows: Any) -> Tabular:
        if isinstance(rows, tuple):
            raise TypeError("Tabular.iloc selects rows only; select columns on `to.items` instead")
        if isinstance(rows, (int, np.integer)):
            rows = [rows]
        return self.table._derived(self.table.items.iloc[rows], split_idx=self.table.split_idx)


class TabularProc(InplaceTransform):
    """A step that processes a `Tabular` in place.

    Subclasses implement `setups(train)` (learn from the training rows, a `Tabular`), `encode_table(to)`
    and, when the step can be undone, `decode_table(to)`. `setup(to)` learns on `to.train` and then
    processes all of `to`, so the next proc sees processed data.
    """

    order = 0

    def setup(self, items: Any = None, train_setup: bool = False) -> None:
        if isinstance(items, Tabular):
            super().setup(items.train)
            self(items)
        else:
            super().setup(items, train_setup)

    def encodes(self, to: Tabular):
        self.encode_table(to)

    def decodes(self, to: Tabular):
        self.decode_table(to)

    def encode_table(self, to: Tabular) -> None:
        """Process the rows of `to` in place."""
        raise NotImplementedError(f"{type(self).__name__} must implement encode_table(to)")

    def decode_table(self, to: Tabular) -> None:
        """Undo `encode_table` on the rows of `to`, in place (nothing by default)."""


def split_positions(split: Sequence[int] | np.ndarray, n: int, which: str) -> np.ndarray:
    """A split (row positions) as an int64 array, checked to lie in `[0, n)`."""
    if isinstance(split, range):
        arr = np.arange(split.start, split.stop, split.step)
    else:
        arr = np.asarray(split if isinstance(split, (np.ndarray, list)) else list(split))  # list: an `L`
    if arr.dtype == bool:
        raise TypeError(
            f"splits: the {which} split is a boolean mask; give row positions (np.flatnonzero(mask))"
        )
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"splits: the {which} split must hold integer row positions, got dtype {arr.dtype}")
    arr = arr.astype(np.int64).reshape(-1)
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        bad = int(arr[(arr < 0) | (arr >= n)][0])
        raise IndexError(
            f"splits: the {which} split holds the position {bad}, outside the {n} rows of the table"
        )
    return arr
