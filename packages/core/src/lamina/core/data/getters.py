"""Getters and labellers: finding items (`get_files`) and reading parts of an item (`ColReader`, ...)."""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from lamina.core.basics.collections import L
from lamina.core.plugins.registry import register_class
from lamina.core.transform import DisplayedTransform, ItemTransform

__all__ = [
    "get_files",
    "FileGetter",
    "parent_label",
    "RegexLabeller",
    "ColReader",
    "ItemGetter",
    "AttrGetter",
    "MissingKeyError",
]


class MissingKeyError(KeyError):
    """A column or key an item does not have (a `KeyError` whose message reads as written)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _extensions(extensions: str | Iterable[str] | None) -> set[str] | None:
    if extensions is None:
        return None
    if isinstance(extensions, str):
        extensions = [extensions]
    found = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
    return found or None


def _files_in(folder: Path, names: Iterable[str], extensions: set[str] | None) -> list[Path]:
    def wanted(name: str) -> bool:
        if name.startswith("."):
            return False
        return extensions is None or os.path.splitext(name)[1].lower() in extensions

    return [folder / name for name in sorted(names) if wanted(name)]


def get_files(
    path: str | os.PathLike,
    extensions: str | Iterable[str] | None = None,
    recurse: bool = True,
    folders: str | Iterable[str] | None = None,
    followlinks: bool = True,
) -> L:
    """The files under `path` as an `L` of `Path`s, sorted (folder by folder, names in order).

    `extensions` (e.g. `{'.png', '.jpg'}`; case-insensitive, the dot optional) keeps matching files
    only; `recurse=False` looks in `path` alone; `folders` limits the walk to those subfolders of
    `path` (names of its direct children; add "." for the files of `path` itself). Hidden files and
    folders (starting with '.') are skipped.
    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"get_files: {str(root)!r} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"get_files: {str(root)!r} is not a folder")
    exts = _extensions(extensions)
    wanted = None if folders is None else ({folders} if isinstance(folders, str) else set(folders))
    if not recurse:
        return L(_files_in(root, (e.name for e in os.scandir(root) if e.is_file()), exts), use_list=True)
    found: list[Path] = []
    for depth, (folder, dirs, names) in enumerate(os.walk(root, followlinks=followlinks)):
        keep = [d for d in dirs if not d.startswith(".")]
        if depth == 0 and wanted is not None:
            keep = [d for d in keep if d in wanted]
        dirs[:] = sorted(keep)
        if depth == 0 and wanted is not None and "." not in wanted:
            continue  # with `folders`, the files of `path` itself only when "." is one of them
        found.extend(_files_in(Path(folder), names, exts))
    return L(found, use_list=True)


def FileGetter(
    suf: str = "", extensions: str | Iterable[str] | None = None, recurse: bool = True, folders: Any = None
) -> Callable[[str | os.PathLike], L]:
    """A `get_items` function: `get_files(path / suf, extensions, recurse, folders)`."""

    def _get(path: str | os.PathLike) -> L:
        return get_files(Path(path) / suf, extensions=extensions, recurse=recurse, folders=folders)

    _get.__name__ = _get.__qualname__ = "FileGetter"
    return _get


def parent_label(o: str | os.PathLike) -> str:
    """The name of the folder holding file `o` (`train/3/a.png` -> `'3'`)."""
    return Path(o).parent.name


@register_class("lamina.core.RegexLabeller")
class RegexLabeller:
    """Label an item by the first group of regex `pat`, searched in (or, `match=True`, matched at the
    start of) the item's string form, with '/' as the path separator on every OS."""

    def __init__(self, pat: str, match: bool = False):
        self.pat, self.match = pat, match
        try:
            compiled = re.compile(pat)
        except re.error as e:
            raise ValueError(f"RegexLabeller: invalid pattern {pat!r}: {e}") from e
        if compiled.groups < 1:
            raise ValueError(f"RegexLabeller: pattern {pat!r} has no group; wrap the label part in (...)")
        self._find = compiled.match if match else compiled.search
        self.__name__ = f"RegexLabeller({pat!r})"

    def __call__(self, o: Any) -> str:
        text = str(o).replace(os.sep, posixpath.sep)
        found = self._find(text)
        if found is None:
            how = "match" if self.match else "find"
            raise ValueError(f"RegexLabeller: failed to {how} the pattern {self.pat!r} in {text!r}")
        return found.group(1)

    def __repr__(self) -> str:
        return f"RegexLabeller({self.pat!r}, match={self.match})"


@register_class("lamina.core.ColReader")
class ColReader(DisplayedTransform, ItemTransform):
    """Read column(s) `cols` of a row (a pandas row, a namedtuple, a dict or a sequence).

    One column gives its value, several an `L` of values. With `pref`/`suff` the value becomes the
    string `pref + value + suff` (a `Path` prefix joins as a folder); with `label_delim` it is split
    into a list of labels (an empty string gives `[]`).
    """

    def __init__(
        self,
        cols: str | int | Iterable[str | int],
        pref: str | os.PathLike = "",
        suff: str = "",
        label_delim: str | None = None,
    ):
        super().__init__()
        self.cols = L(cols)
        if not len(self.cols):
            raise ValueError("ColReader: give at least one column")
        self.pref = f"{pref}{os.sep}" if isinstance(pref, Path) else str(pref)
        self.suff, self.label_delim = suff, label_delim

    def _read(self, row: Any, col: str | int) -> Any:
        fields = getattr(row, "_fields", None)
        try:
            if fields is not None and col in fields:
                return getattr(row, col)
            if isinstance(col, int) and hasattr(row, "iloc"):
                return row.iloc[col]
            return row[col]
        except (KeyError, IndexError, TypeError) as e:
            names = list(row.index) if hasattr(row, "iloc") else list(row) if isinstance(row, Mapping) else []
            known = f"; the row has {names}" if names else ""
            raise MissingKeyError(
                f"ColReader: cannot read column {col!r} of a {type(row).__name__}{known}"
            ) from e

    def _one(self, row: Any, col: str | int) -> Any:
        value = self._read(row, col)
        if self.label_delim is not None:
            if value is None or (isinstance(value, float) and value != value):  # missing: no labels
                return []
            text = str(value)
            return text.split(self.label_delim) if text else []
        if self.pref or self.suff:
            return f"{self.pref}{value}{self.suff}"
        return value

    def encodes(self, row):
        if len(self.cols) == 1:
            return self._one(row, self.cols[0])
        return L(self._one(row, c) for c in self.cols)


@register_class("lamina.core.ItemGetter")
class ItemGetter(ItemTransform):
    """Item -> `item[i]` (the whole item is seen, tuples included)."""

    def __init__(self, i: Any):
        super().__init__()
        self.i = i

    def encodes(self, x):
        try:
            return x[self.i]
        except (KeyError, IndexError, TypeError) as e:
            kind = MissingKeyError if isinstance(e, KeyError) else type(e)
            raise kind(f"ItemGetter({self.i!r}): cannot index a {type(x).__name__} with {self.i!r}") from e

    @property
    def name(self) -> str:
        return f"ItemGetter({self.i!r})"


@register_class("lamina.core.AttrGetter")
class AttrGetter(ItemTransform):
    """Item -> `item.<nm>` (`default` when the attribute is missing)."""

    def __init__(self, nm: str, default: Any = None):
        super().__init__()
        self.nm, self.default = nm, default

    def encodes(self, x):
        return getattr(x, self.nm, self.default)

    @property
    def name(self) -> str:
        return f"AttrGetter({self.nm!r})"
