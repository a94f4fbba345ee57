"""`TabularDataLoaders`: training and validation `TabDataLoader`s over a processed table.

dls = TabularDataLoaders.from_df(df, path, procs=[Categorify, FillMissing, Normalize],
                                 cat_names=[...], cont_names=[...], y_names="salary", valid_idx=..., bs=64)
dls.show_batch(); dls.test_dl(new_df)
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from lamina.core.data.loaders import DataLoaders
from lamina.core.data.splitters import IndexSplitter, RandomSplitter
from lamina.tabular.checks import as_names
from lamina.tabular.core import TabularPandas
from lamina.tabular.loader import TabDataLoader
from lamina.tabular.table import Tabular

__all__ = ["TabularDataLoaders"]


def _loader_kwargs(dl_kwargs: Any, i: int) -> dict:
    if dl_kwargs is None:
        return {}
    if isinstance(dl_kwargs, dict):
        return dict(dl_kwargs)
    parts = list(dl_kwargs)
    return dict(parts[i]) if i < len(parts) and parts[i] else {}


class TabularDataLoaders(DataLoaders):
    """The training (and validation) `TabDataLoader`s of a processed table (`tabular`).

    `loss_func` is the target's default loss (`CrossEntropyLossFlat`, `MSELossFlat` or
    `BCEWithLogitsLossFlat`), which a `Learner` takes when given none. The table's names and vocabularies
    are read through `cat_names`, `cont_names`, `y_names`, `classes`, `vocab` and `c`.
    """

    def __init__(
        self,
        *loaders: Any,
        path: str | Path = ".",
        device: Any = None,
        tabular: Tabular | None = None,
    ):
        super().__init__(*loaders, path=path, device=device)
        if tabular is None and loaders:
            tabular = getattr(loaders[0], "dataset", None)
        if not isinstance(tabular, Tabular):
            raise TypeError("TabularDataLoaders needs the processed table: pass tabular= or TabDataLoaders")
        self.tabular = tabular
        self.loss_func = tabular.loss_func

    # ---- building --------------------------------------------------------------------------------
    @classmethod
    def from_tabular(
        cls,
        to: Tabular,
        bs: int = 64,
        shuffle_train: bool | None = None,
        shuffle: bool = True,
        val_shuffle: bool = False,
        n: int | None = None,
        path: str | Path = ".",
        dl_type: type | None = None,
        dl_kwargs: Any = None,
        device: Any = None,
        drop_last: bool | None = None,
        val_bs: int | None = None,
        **kwargs: Any,
    ) -> TabularDataLoaders:
        """Loaders over `to.train` (shuffled when `shuffle`; `shuffle_train` is its older name) and, when
        the table has validation rows, `to.valid` (batch size `val_bs`, default `bs`; shuffled when
        `val_shuffle`). The training loader drops its last partial batch when `drop_last` (default: when it
        shuffles and holds at least one full batch). `dl_kwargs` (one dict, or one per loader) and `kwargs`
        go to the loaders (`num_workers`, `seed`, `pin_memory`, ...)."""
        if not isinstance(to, Tabular):
            raise TypeError(
                f"TabularDataLoaders.from_tabular expects a processed Tabular, got {type(to).__name__}"
            )
        if shuffle_train is not None:
            shuffle = shuffle_train
        dl_type = TabDataLoader if dl_type is None else dl_type
        device = to.device if device is None else device
        train_rows = to.train
        if drop_last is None:
            drop_last = shuffle and len(train_rows) >= bs
        train = dl_type(
            train_rows,
            bs=bs,
            shuffle=shuffle,
            drop_last=drop_last,
            n=n,
            device=device,
            **{**kwargs, **_loader_kwargs(dl_kwargs, 0)},
        )
        loaders = [train]
        if to.n_valid:
            valid = dl_type(
                to.valid,
                bs=bs if val_bs is None else val_bs,
                shuffle=val_shuffle,
                drop_last=False,
                device=device,
                **{**kwargs, **_loader_kwargs(dl_kwargs, 1)},
            )
            loaders.append(valid)
        return cls(*loaders, path=path, device=device, tabular=to)

    @classmethod
    def from_df(
        cls,
        df: pd.DataFrame,
        path: str | Path = ".",
        procs: Any = None,
        cat_names: Hashable | Iterable[Hashable] | None = None,
        cont_names: Hashable | Iterable[Hashable] | None = None,
        y_names: Hashable | Iterable[Hashable] | None = None,
        y_block: Any = None,
        valid_idx: Sequence[int] | None = None,
        bs: int = 64,
        shuffle_train: bool | None = None,
        shuffle: bool = True,
        val_shuffle: bool = False,
        n: int | None = None,
        device: Any = None,
        **kwargs: Any,
    ) -> TabularDataLoaders:
        """Build a `TabularPandas` from `df` and its loaders. `cont_names` defaults to every column that is
        neither categorical nor a target; `valid_idx` (row positions) are the validation rows (default: a
        random 20%). `kwargs` go to `TabularPandas.dataloaders` (`val_bs`, `drop_last`, `num_workers`,
        `seed`, ...)."""
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"TabularDataLoaders.from_df expects a pandas DataFrame, got {type(df).__name__}")
        cats, ys = as_names(cat_names, "cat_names"), as_names(y_names, "y_names")
        if cont_names is None:
            cont_names = [c for c in df.columns if c not in set(cats) | set(ys)]
        splitter = RandomSplitter() if valid_idx is None else IndexSplitter(valid_idx)
        to = TabularPandas(
            df, procs, cats, cont_names, ys, y_block=y_block, splits=splitter(range(len(df))), device=device
        )
        return to.dataloaders(
            bs=bs,
            shuffle_train=shuffle_train,
            shuffle=shuffle,
            val_shuffle=val_shuffle,
            n=n,
            path=path,
            device=device,
            **kwargs,
        )

    @classmethod
    def from_csv(cls, csv: str | Path, skipinitialspace: bool = True, **kwargs: Any) -> TabularDataLoaders:
        """`from_df` on the CSV file `csv` (read with `pandas.read_csv`)."""
        try:
            df = pd.read_csv(csv, skipinitialspace=skipinitialspace)
        except FileNotFoundError as e:
            raise FileNotFoundError(f"TabularDataLoaders.from_csv: no CSV file at {csv}") from e
        return cls.from_df(df, **kwargs)

    # ---- the table ---------------------------------------------------------------------------------
    @property
    def cat_names(self) -> list[Hashable]:
        """The categorical columns (with any `_na` columns FillMissing added)."""
        return self.tabular.cat_names

    @property
    def cont_names(self) -> list[Hashable]:
        """The continuous columns."""
        return self.tabular.cont_names

    @property
    def y_names(self) -> list[Hashable]:
        """The target columns."""
        return self.tabular.y_names

    @property
    def procs(self) -> Any:
        """The table's procs (a `Pipeline`)."""
        return self.tabular.procs

    @property
    def classes(self) -> dict[Hashable, Any]:
        """The vocabulary of each categorical column."""
        return self.tabular.classes

    @property
    def vocab(self) -> Any:
        """The target's classes (None for a regression)."""
        return self.tabular.vocab

    @property
    def c(self) -> int | None:
        """How many outputs the target needs."""
        return self.tabular.c

    # ---- using it ----------------------------------------------------------------------------------
    def test_dl(
        self,
        test_items: pd.DataFrame,
        rm_type_tfms: Any = None,
        with_labels: bool | None = None,
        inplace: bool = False,
        **kwargs: Any,
    ) -> TabDataLoader:
        """A loader over the new rows `test_items`, processed with the learned procs (missing values filled,
        unseen categories as '#na#'), with the validation loader's settings (`kwargs` change them). Targets
        are included when the rows have them, unless `with_labels=False`."""
        if not isinstance(test_items, pd.DataFrame):
            raise TypeError(
                f"TabularDataLoaders.test_dl expects a pandas DataFrame, got {type(test_items).__name__}"
            )
        if with_labels is False:
            test_items = test_items.drop(columns=[c for c in self.y_names if c in test_items.columns])
        elif with_labels:
            missing = [c for c in self.y_names if c not in test_items.columns]
            if missing:
                raise ValueError(f"test_dl(with_labels=True): the rows lack the target column(s) {missing}")
        to = self.tabular.new(test_items, inplace=inplace).process()
        base = self.loaders[1] if len(self.loaders) > 1 else self.loaders[0]
        kwargs.setdefault("shuffle", False)
        kwargs.setdefault("drop_last", False)
        return base.new(to, **kwargs)

    def one_batch(self) -> Any:
        """The first batch of the training loader."""
        return self.train.one_batch()

    def show_batch(self, b: Any = None, max_n: int = 10, show: bool = True, **kwargs: Any) -> pd.DataFrame:
        """Decoded rows of a training batch as a DataFrame (see `TabDataLoader.show_batch`)."""
        return self.train.show_batch(b, max_n=max_n, show=show, **kwargs)
