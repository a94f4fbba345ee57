"""`DataLoaders`: the training, validation (and any further) loaders of one task, and their device."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader as TorchDataLoader

from lamina.core.data.load import DataLoader

__all__ = ["DataLoaders"]


def _describe(loader: Any) -> str:
    if isinstance(loader, TorchDataLoader):
        ds = loader.dataset
        size = f"[{len(ds)}]" if hasattr(ds, "__len__") else ""
        return f"torch DataLoader(dataset={type(ds).__name__}{size}, batch_size={loader.batch_size})"
    return repr(loader)


def _is_transformed(dataset: Any) -> bool:
    """Whether `dataset` is a `Datasets` or a `TfmdLists` (imported late: they import this module)."""
    from lamina.core.data.datasets import Datasets
    from lamina.core.data.tfmd_lists import TfmdLists

    return isinstance(dataset, (Datasets, TfmdLists))


class DataLoaders:
    """A training loader (`.train`, `[0]`), a validation loader (`.valid`, `[1]`) and any more.

    The loaders may be ours or plain `torch.utils.data.DataLoader`s, which are kept as they are:
    the Learner moves their batches to `device` (`None`: the model's device). Setting `device`
    moves every loader that has a `.to` method.
    """

    def __init__(self, *loaders: Any, path: str | Path = ".", device: torch.device | str | None = None):
        self.loaders: list[Any] = list(loaders)
        self.path = Path(path)
        self._device: torch.device | None = None
        if device is not None:
            self.device = device

    @classmethod
    def from_dsets(
        cls,
        *datasets: Any,
        bs: int | None = 64,
        shuffle: bool = True,
        drop_last: bool | None = None,
        device: torch.device | str | None = None,
        path: str | Path = ".",
        dl_type: type | None = None,
        **kwargs: Any,
    ) -> DataLoaders:
        """A `dl_type` loader around each dataset. The first (training) one is shuffled when `shuffle`
        and drops its last partial batch when `drop_last` (default: as `shuffle`); the others are
        neither. `kwargs` (e.g. `num_workers`, hooks) go to every loader.

        `dl_type` defaults to `TfmdDL` when the first dataset is a `Datasets` or `TfmdLists` (then
        `after_item`/`before_batch`/`after_batch` take transforms, set up once on the training loader
        and shared by the others), else to `DataLoader`."""
        if not datasets:
            raise ValueError("DataLoaders.from_dsets needs at least one dataset")
        from lamina.core.data.tfmd_dl import TfmdDL

        if dl_type is None:
            dl_type = TfmdDL if _is_transformed(datasets[0]) else DataLoader
        train_drop = shuffle if drop_last is None else drop_last
        if issubclass(dl_type, TfmdDL):
            first = dl_type(datasets[0], bs=bs, shuffle=shuffle, drop_last=train_drop, **kwargs)
            rest = [first.new(ds, shuffle=False, drop_last=False) for ds in datasets[1:]]
            return cls(first, *rest, path=path, device=device)
        loaders = [
            dl_type(ds, bs=bs, shuffle=shuffle and i == 0, drop_last=train_drop and i == 0, **kwargs)
            for i, ds in enumerate(datasets)
        ]
        return cls(*loaders, path=path, device=device)

    @classmethod
    def from_dblock(cls, dblock: Any, source: Any, **kwargs: Any) -> DataLoaders:
        """`dblock.dataloaders(source, **kwargs)`: the loaders a `DataBlock` builds from `source`."""
        if not callable(getattr(dblock, "dataloaders", None)):
            raise TypeError(
                "DataLoaders.from_dblock needs a DataBlock (with a `dataloaders` method), "
                f"got {type(dblock).__name__}"
            )
        return dblock.dataloaders(source, **kwargs)

    def test_dl(
        self, test_items: Any, rm_type_tfms: Any = None, with_labels: bool = False, **kwargs: Any
    ) -> Any:
        """A loader over `test_items` with the validation transforms (`split_idx=1`) of the validation
        loader: its pipelines, `bs` and settings (`kwargs` change them, see `DataLoader.new`).

        Only the input pipelines run unless `with_labels`; with it, the labels are kept when the items
        have them (rows without the label column give input-only batches, with a warning). Leading
        transforms the items have already been through are skipped (`rm_type_tfms`: a count, or one per
        pipeline; default: inferred from the first item's type, see `test_set`): DataFrame rows go through
        a `ColReader` getter, values it would give (e.g. texts) start after it. With a validation set that
        is not a `Datasets`/`TfmdLists`, the items are used as they are."""
        valid = self.valid
        if not callable(getattr(valid, "new", None)):
            raise TypeError(
                f"DataLoaders.test_dl needs a validation loader with `new` (a lamina DataLoader), got "
                f"{type(valid).__name__}"
            )
        from lamina.core.data.datasets import test_set

        dataset = valid.dataset
        if _is_transformed(dataset):
            dataset = test_set(dataset, test_items, rm_tfms=rm_type_tfms, with_labels=with_labels)
        else:
            dataset = test_items
        return valid.new(dataset, **kwargs)

    def __getitem__(self, i: int) -> Any:
        return self.loaders[i]

    def __len__(self) -> int:
        return len(self.loaders)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.loaders)

    def _loader(self, i: int, role: str) -> Any:
        if len(self.loaders) <= i:
            raise IndexError(f"DataLoaders has no {role} loader: it holds {len(self.loaders)} loader(s)")
        return self.loaders[i]

    @property
    def train(self) -> Any:
        """The training loader (`self[0]`)."""
        return self._loader(0, "training")

    @property
    def valid(self) -> Any:
        """The validation loader (`self[1]`)."""
        return self._loader(1, "validation")

    def one_batch(self) -> Any:
        """A batch of the training loader (`dls.train.one_batch()`)."""
        return self.train.one_batch()

    def show_batch(self, b: Any = None, max_n: int = 9, ctxs: Any = None, show: bool = True, **kwargs) -> Any:
        """Show a batch of the training loader (`dls.train.show_batch(...)`)."""
        return self.train.show_batch(b=b, max_n=max_n, ctxs=ctxs, show=show, **kwargs)

    @property
    def train_ds(self) -> Any:
        """The training loader's dataset."""
        return self.train.dataset

    @property
    def valid_ds(self) -> Any:
        """The validation loader's dataset."""
        return self.valid.dataset

    @property
    def vocab(self) -> Any:
        """The vocabulary set here, else the training dataset's `vocab` (None when it has none)."""
        if self.__dict__.get("_vocab") is not None:
            return self._vocab
        return getattr(self.train_ds, "vocab", None) if self.loaders else None

    @vocab.setter
    def vocab(self, value: Any) -> None:
        self._vocab = value

    @property
    def n_inp(self) -> int:
        """How many parts of a batch are inputs (the rest are targets): the training loader's
        `n_inp`, 1 when it has none."""
        return getattr(self.train, "n_inp", 1) if self.loaders else 1

    @property
    def device(self) -> torch.device | None:
        """Where batches go: the device set here, else the first loader's own `device`, else `None`
        (follow the model)."""
        if self._device is not None:
            return self._device
        return next((d for d in (getattr(dl, "device", None) for dl in self.loaders) if d is not None), None)

    @device.setter
    def device(self, device: torch.device | str | None) -> None:
        self._device = None if device is None else torch.device(device)
        for dl in self.loaders:
            if callable(getattr(dl, "to", None)):
                dl.to(self._device)

    def to(self, device: torch.device | str | None) -> DataLoaders:
        """Send batches of every loader to `device`; returns `self`."""
        self.device = device
        return self

    def cuda(self) -> DataLoaders:
        """`to('cuda')`, after checking that CUDA is there."""
        if not torch.cuda.is_available():
            raise RuntimeError("DataLoaders.cuda(): CUDA is not available on this machine")
        return self.to("cuda")

    def cpu(self) -> DataLoaders:
        """`to('cpu')`."""
        return self.to("cpu")

    def __repr__(self) -> str:
        names = ["train", "valid"] + [f"[{i}]" for i in range(2, len(self.loaders))]
        inner = ", ".join(f"{name}={_describe(dl)}" for name, dl in zip(names, self.loaders))
        return f"{type(self).__name__}({inner}; path={str(self.path)!r}, device={self.device})"
