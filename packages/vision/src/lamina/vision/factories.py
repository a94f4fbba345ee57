"""`ImageDataLoaders` and `SegmentationDataLoaders`: one-line `DataLoaders` for common layouts.

Each factory builds a `DataBlock` (an `ImageBlock` input and a target block), makes its loaders from the
source with `kwargs` (`bs`, `num_workers`, `device`, ...) and returns them as an instance of the class,
with `loss_func` from the target block, `vocab` (class names, or the mask `codes`) and `c` (the number
of classes, None when unknown).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from lamina.core.basics.functional import is_listy
from lamina.core.data.block import DataBlock
from lamina.core.data.blocks import CategoryBlock, MultiCategoryBlock
from lamina.core.data.getters import ColReader, ItemGetter, RegexLabeller, parent_label
from lamina.core.data.loaders import DataLoaders
from lamina.core.data.splitters import ColSplitter, GrandparentSplitter, RandomSplitter
from lamina.vision.data import ImageBlock, MaskBlock, get_image_files
from lamina.vision.image import PILBase, PILImage

__all__ = ["ImageDataLoaders", "SegmentationDataLoaders"]


class _OnName:
    """`func(Path(o).name)`: a labeller of file names (picklable, for worker processes)."""

    def __init__(self, func: Callable[[str], Any]):
        if not callable(func):
            raise TypeError(f"label_func must be callable, got {type(func).__name__}")
        self.func = func
        self.__name__ = f"on_name({getattr(func, '__name__', repr(func))})"

    def __call__(self, o: str | os.PathLike) -> Any:
        return self.func(Path(o).name)


class _FolderFiles:
    """`get_items` of `from_folder`: the image files of `path` (only in `folders` when given)."""

    def __init__(self, folders: list[str] | None):
        self.folders = folders
        self.__name__ = "get_image_files"

    def __call__(self, path: str | os.PathLike):
        return get_image_files(path, folders=self.folders)


def _finish(cls: type, dls: DataLoaders, vocab: Any = None) -> DataLoaders:
    """`dls` re-made as `cls`, with `vocab` (when given) and `c`."""
    res = cls.__new__(cls)
    res.__dict__.update(dls.__dict__)
    if vocab is not None:
        res.vocab = list(vocab)
    vocab = res.vocab
    res.c = len(vocab) if vocab is not None else None
    return res


def _check_fnames(fnames: Any, who: str) -> list:
    if isinstance(fnames, (str, os.PathLike)) or not isinstance(fnames, Iterable):
        raise TypeError(f"{who}: fnames must be a list of file names, got {type(fnames).__name__}")
    fnames = list(fnames)
    if not fnames:
        raise ValueError(f"{who}: fnames is empty")
    return fnames


class ImageDataLoaders(DataLoaders):
    """`DataLoaders` for image classification, made by one of the `from_*` factories."""

    @classmethod
    def from_dblock(cls, dblock: DataBlock, source: Any, path: str | os.PathLike = ".", **kwargs: Any):
        """The loaders `dblock` builds from `source`, as this class (with `vocab` and `c`)."""
        return _finish(cls, dblock.dataloaders(source, path=path, **kwargs))

    @classmethod
    def from_folder(
        cls,
        path: str | os.PathLike,
        train: str = "train",
        valid: str = "valid",
        valid_pct: float | None = None,
        seed: int | None = None,
        vocab: Sequence | None = None,
        item_tfms: Any = None,
        batch_tfms: Any = None,
        img_cls: type[PILBase] = PILImage,
        **kwargs: Any,
    ) -> ImageDataLoaders:
        """ImageNet layout: `path/<train>/<label>/*.png` and `path/<valid>/<label>/*.png`, labelled by their
        folder. With `valid_pct`, every image under `path` is used and split at random instead."""
        if valid_pct is None:
            splitter, folders = GrandparentSplitter(train_name=train, valid_name=valid), [train, valid]
        else:
            splitter, folders = RandomSplitter(valid_pct, seed=seed), None
        dblock = DataBlock(
            blocks=(ImageBlock(img_cls), CategoryBlock(vocab=vocab)),
            get_items=_FolderFiles(folders),
            splitter=splitter,
            get_y=parent_label,
            item_tfms=item_tfms,
            batch_tfms=batch_tfms,
        )
        return cls.from_dblock(dblock, path, path=path, **kwargs)

    @classmethod
    def from_path_func(
        cls,
        path: str | os.PathLike,
        fnames: Iterable,
        label_func: Callable[[Any], Any],
        valid_pct: float = 0.2,
        seed: int | None = None,
        item_tfms: Any = None,
        batch_tfms: Any = None,
        img_cls: type[PILBase] = PILImage,
        **kwargs: Any,
    ) -> ImageDataLoaders:
        """Images `fnames` labelled by `label_func(path_of_file)`, split at random (`valid_pct`, `seed`)."""
        dblock = DataBlock(
            blocks=(ImageBlock(img_cls), CategoryBlock),
            splitter=RandomSplitter(valid_pct, seed=seed),
            get_y=label_func,
            item_tfms=item_tfms,
            batch_tfms=batch_tfms,
        )
        return cls.from_dblock(dblock, _check_fnames(fnames, "from_path_func"), path=path, **kwargs)

    @classmethod
    def from_name_func(
        cls, path: str | os.PathLike, fnames: Iterable, label_func: Callable[[str], Any], **kwargs: Any
    ) -> ImageDataLoaders:
        """Images `fnames` labelled by `label_func(file_name)` (the name only, no folder)."""
        return cls.from_path_func(path, fnames, _OnName(label_func), **kwargs)

    @classmethod
    def from_path_re(
        cls, path: str | os.PathLike, fnames: Iterable, pat: str, **kwargs: Any
    ) -> ImageDataLoaders:
        """Images `fnames` labelled by the first group of regex `pat` searched in the full path."""
        return cls.from_path_func(path, fnames, RegexLabeller(pat), **kwargs)

    @classmethod
    def from_name_re(
        cls, path: str | os.PathLike, fnames: Iterable, pat: str, **kwargs: Any
    ) -> ImageDataLoaders:
        """Images `fnames` labelled by the first group of regex `pat` searched in the file name."""
        return cls.from_name_func(path, fnames, RegexLabeller(pat), **kwargs)

    @classmethod
    def from_df(
        cls,
        df: Any,
        path: str | os.PathLike = ".",
        valid_pct: float = 0.2,
        seed: int | None = None,
        fn_col: int | str = 0,
        folder: str | None = None,
        suff: str = "",
        label_col: int | str | Sequence = 1,
        label_delim: str | None = None,
        y_block: Any = None,
        valid_col: int | str | None = None,
        item_tfms: Any = None,
        batch_tfms: Any = None,
        img_cls: type[PILBase] = PILImage,
        **kwargs: Any,
    ) -> ImageDataLoaders:
        """Images named in column `fn_col` of DataFrame `df` (under `path/folder`, plus `suff`), labelled by
        `label_col`: one label, labels split by `label_delim` (multi-label), or several one-hot columns
        (multi-label). Split by the boolean column `valid_col`, else at random (`valid_pct`, `seed`)."""
        if len(df) == 0:
            raise ValueError("ImageDataLoaders.from_df: the DataFrame has no rows")
        folder_path = Path(path) if folder is None else Path(path) / folder
        if y_block is None:
            if is_listy(label_col) and len(label_col) > 1:
                y_block = MultiCategoryBlock(encoded=True, vocab=list(label_col))
            else:
                y_block = MultiCategoryBlock if label_delim is not None else CategoryBlock
        splitter = RandomSplitter(valid_pct, seed=seed) if valid_col is None else ColSplitter(valid_col)
        dblock = DataBlock(
            blocks=(ImageBlock(img_cls), y_block),
            get_x=ColReader(fn_col, pref=f"{folder_path}{os.sep}", suff=suff),
            get_y=ColReader(label_col, label_delim=label_delim),
            splitter=splitter,
            item_tfms=item_tfms,
            batch_tfms=batch_tfms,
        )
        return cls.from_dblock(dblock, df, path=path, **kwargs)

    @classmethod
    def from_csv(
        cls,
        path: str | os.PathLike,
        csv_fname: str = "labels.csv",
        header: Any = "infer",
        delimiter: str | None = None,
        **kwargs: Any,
    ) -> ImageDataLoaders:
        """`from_df` on the CSV file `path/csv_fname` (read with pandas)."""
        import pandas as pd

        fname = Path(path) / csv_fname
        if not fname.exists():
            raise FileNotFoundError(f"ImageDataLoaders.from_csv: no CSV file {str(fname)!r}")
        read_kwargs = {} if delimiter is None else {"delimiter": delimiter}
        df = pd.read_csv(fname, header=header, **read_kwargs)
        return cls.from_df(df, path=path, **kwargs)

    @classmethod
    def from_lists(
        cls,
        path: str | os.PathLike,
        fnames: Iterable,
        labels: Iterable,
        valid_pct: float = 0.2,
        seed: int | None = None,
        y_block: Any = CategoryBlock,
        item_tfms: Any = None,
        batch_tfms: Any = None,
        img_cls: type[PILBase] = PILImage,
        **kwargs: Any,
    ) -> ImageDataLoaders:
        """Images `fnames` with the matching `labels` (`y_block` decides their kind), split at random."""
        fnames, labels = _check_fnames(fnames, "from_lists"), list(labels)
        if len(fnames) != len(labels):
            raise ValueError(
                f"ImageDataLoaders.from_lists: {len(fnames)} file names but {len(labels)} labels"
            )
        dblock = DataBlock(
            blocks=(ImageBlock(img_cls), y_block),
            get_x=ItemGetter(0),
            get_y=ItemGetter(1),
            splitter=RandomSplitter(valid_pct, seed=seed),
            item_tfms=item_tfms,
            batch_tfms=batch_tfms,
        )
        return cls.from_dblock(dblock, list(zip(fnames, labels)), path=path, **kwargs)


class SegmentationDataLoaders(DataLoaders):
    """`DataLoaders` for semantic segmentation (image, mask)."""

    @classmethod
    def from_label_func(
        cls,
        path: str | os.PathLike,
        fnames: Iterable,
        label_func: Callable[[Any], Any],
        valid_pct: float = 0.2,
        seed: int | None = None,
        codes: Sequence[str] | None = None,
        item_tfms: Any = None,
        batch_tfms: Any = None,
        img_cls: type[PILBase] = PILImage,
        **kwargs: Any,
    ) -> SegmentationDataLoaders:
        """Images `fnames` with the masks at `label_func(fname)`, class names `codes`, split at random.
        `vocab` is `codes` and `c` their number (None without codes)."""
        dblock = DataBlock(
            blocks=(ImageBlock(img_cls), MaskBlock(codes=codes)),
            splitter=RandomSplitter(valid_pct, seed=seed),
            get_y=label_func,
            item_tfms=item_tfms,
            batch_tfms=batch_tfms,
        )
        dls = dblock.dataloaders(_check_fnames(fnames, "from_label_func"), path=path, **kwargs)
        return _finish(cls, dls, vocab=None if codes is None else [str(c) for c in codes])
