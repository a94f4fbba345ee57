"""Splitters: each `XSplitter(...)` returns a function `items -> (train_idxs, valid_idxs)`.

The index lists are `L`s of ints, in a deterministic order for a given seed. A splitter raises a
`ValueError` naming itself when there are no items, or when its split leaves the training or the
validation set empty (the one exception: `RandomSplitter(valid_pct=0)` asks for no validation set).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lamina.core.basics.collections import L
from lamina.core.basics.functional import is_listy
from lamina.core.transform import _failure

__all__ = [
    "Splits",
    "RandomSplitter",
    "TrainTestSplitter",
    "IndexSplitter",
    "EndSplitter",
    "GrandparentSplitter",
    "FuncSplitter",
    "MaskSplitter",
    "FileSplitter",
    "ColSplitter",
    "RandomSubsetSplitter",
]

Splits = tuple[L, L]


def _count(items: Any, who: str) -> int:
    try:
        n = len(items)
    except TypeError:
        raise TypeError(f"{who}: items must be a sized collection, got {type(items).__name__}") from None
    if n == 0:
        raise ValueError(f"{who}: there are no items to split")
    return n


def _checked(who: str, n: int, train: Iterable, valid: Iterable, allow_empty_valid: bool = False) -> Splits:
    train, valid = L([int(i) for i in train], use_list=True), L([int(i) for i in valid], use_list=True)
    if not len(train):
        raise ValueError(f"{who}: the training set is empty ({n} items, {len(valid)} in validation)")
    if not len(valid) and not allow_empty_valid:
        raise ValueError(
            f"{who}: the validation set is empty (all {n} items went to training); check the splitter's "
            "arguments against the items"
        )
    return train, valid


def _fraction(name: str, value: Any, who: str, closed: bool = True) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not (0 <= value <= 1 if closed else 0 < value < 1):
        bounds = "[0, 1]" if closed else "(0, 1)"
        raise ValueError(f"{who}: {name} must be a number in {bounds}, got {value!r}")
    return float(value)


def _named(split: Callable[[Any], Splits], who: str) -> Callable[[Any], Splits]:
    """`split` named after the splitter call that made it (shown in reprs and summaries)."""
    split.__name__ = split.__qualname__ = who
    return split


def _permutation(n: int, seed: int | None) -> list[int]:
    gen = torch.Generator()
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(seed)
    return torch.randperm(n, generator=gen).tolist()


def RandomSplitter(valid_pct: float = 0.2, seed: int | None = None) -> Callable[[Sequence], Splits]:
    """A random `valid_pct` of the items (rounded down) for validation (reproducible with `seed`)."""
    who = f"RandomSplitter(valid_pct={valid_pct!r})"
    valid_pct = _fraction("valid_pct", valid_pct, who)

    def _split(items: Sequence) -> Splits:
        n = _count(items, who)
        order = _permutation(n, seed)
        cut = int(valid_pct * n)
        if valid_pct > 0 and cut == 0:
            raise ValueError(f"{who}: {n} items give an empty validation set; raise valid_pct")
        return _checked(who, n, order[cut:], order[:cut], allow_empty_valid=valid_pct == 0)

    return _named(_split, who)


def _size(value: Any, n: int, name: str, who: str, round_up: bool) -> int | None:
    if value is None:
        return None
    if isinstance(value, float):
        if not 0 < value < 1:
            raise ValueError(f"{who}: a fractional {name} must be in (0, 1), got {value!r}")
        return math.ceil(value * n) if round_up else math.floor(value * n)
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 < value < n:
            raise ValueError(f"{who}: {name}={value} must be between 1 and {n - 1} for {n} items")
        return value
    raise TypeError(f"{who}: {name} must be a float fraction, an int count or None, got {value!r}")


def _own_train_test_split(
    n: int, n_test: int, n_train: int, seed: int | None, stratify: Sequence | None, shuffle: bool
) -> tuple[list[int], list[int]]:
    """Train/test indices (no scikit-learn): shuffled (or in order), stratified when asked."""
    rng = np.random.default_rng(seed)
    if not shuffle:
        return list(range(n_train)), list(range(n_train, n_train + n_test))
    if stratify is None:
        order = rng.permutation(n)
        return order[n_test : n_test + n_train].tolist(), order[:n_test].tolist()
    labels = np.asarray(stratify)
    classes, inverse = np.unique(labels, return_inverse=True)
    counts = np.bincount(inverse)
    test_per_class = _allocate(counts, n_test)
    train_per_class = _allocate(counts - test_per_class, n_train)
    train, test = [], []
    for k in range(len(classes)):
        members = rng.permutation(np.flatnonzero(inverse == k))
        t = test_per_class[k]
        test.extend(members[:t].tolist())
        train.extend(members[t : t + train_per_class[k]].tolist())
    return rng.permutation(train).tolist(), rng.permutation(test).tolist()


def _allocate(counts: np.ndarray, total: int) -> np.ndarray:
    """Split `total` over classes in proportion to `counts` (largest remainders get the rest)."""
    exact = counts * total / max(counts.sum(), 1)
    base = np.minimum(np.floor(exact).astype(int), counts)
    order = np.argsort(-(exact - base), kind="stable")
    for k in order:
        if base.sum() >= total:
            break
        if base[k] < counts[k]:
            base[k] += 1
    return base


def TrainTestSplitter(
    test_size: float | int = 0.2,
    random_state: int | None = None,
    stratify: Sequence | None = None,
    train_size: float | int | None = None,
    shuffle: bool = True,
) -> Callable[[Sequence], Splits]:
    """scikit-learn's `train_test_split` on the item indices (`stratify`: one label per item).

    Uses scikit-learn when it is installed, else an equivalent split of our own (same set sizes: a
    fractional test size rounds up, a fractional train size down; stratified by largest remainders).
    """
    who = "TrainTestSplitter"

    def _split(items: Sequence) -> Splits:
        n = _count(items, who)
        if stratify is not None and len(stratify) != n:
            raise ValueError(f"{who}: stratify has {len(stratify)} labels for {n} items")
        if stratify is not None and not shuffle:
            raise ValueError(f"{who}: stratify needs shuffle=True")
        n_test = _size(test_size, n, "test_size", who, round_up=True)
        n_train = _size(train_size, n, "train_size", who, round_up=False)
        n_test = n - n_train if n_test is None and n_train is not None else n_test
        n_test = math.ceil(0.25 * n) if n_test is None else n_test
        n_train = n - n_test if n_train is None else n_train
        if n_train < 1 or n_test < 1:
            raise ValueError(f"{who}: {n} items give {n_train} for training and {n_test} for testing")
        if n_train + n_test > n:
            raise ValueError(f"{who}: train ({n_train}) + test ({n_test}) items exceed the {n} items")
        try:
            from sklearn.model_selection import train_test_split
        except ImportError:
            train, valid = _own_train_test_split(n, n_test, n_train, random_state, stratify, shuffle)
        else:
            train, valid = train_test_split(
                range(n),
                test_size=n_test,
                train_size=n_train,
                random_state=random_state,
                stratify=stratify,
                shuffle=shuffle,
            )
        return _checked(who, n, train, valid)

    return _named(_split, who)


def IndexSplitter(valid_idx: Iterable[int]) -> Callable[[Sequence], Splits]:
    """The items at `valid_idx` form the validation set, the others (in order) the training set."""
    who = "IndexSplitter"
    wanted = [int(i) for i in (valid_idx.tolist() if hasattr(valid_idx, "tolist") else valid_idx)]

    def _split(items: Sequence) -> Splits:
        n = _count(items, who)
        bad = [i for i in wanted if not -n <= i < n]
        if bad:
            raise IndexError(f"{who}: validation indices {bad[:10]} are out of range for {n} items")
        valid = list(dict.fromkeys(i % n for i in wanted))
        chosen = set(valid)
        return _checked(who, n, [i for i in range(n) if i not in chosen], valid)

    return _named(_split, who)


def EndSplitter(valid_pct: float = 0.2, valid_last: bool = True) -> Callable[[Sequence], Splits]:
    """The last (or first, `valid_last=False`) `valid_pct` of the items, in order, for validation."""
    who = f"EndSplitter(valid_pct={valid_pct!r})"
    valid_pct = _fraction("valid_pct", valid_pct, who)

    def _split(items: Sequence) -> Splits:
        n = _count(items, who)
        cut = int(valid_pct * n)
        idxs = list(range(n))
        if valid_last:
            return _checked(who, n, idxs[: n - cut], idxs[n - cut :])
        return _checked(who, n, idxs[cut:], idxs[:cut])

    return _named(_split, who)


def _mask_split(who: str, n: int, mask: Iterable) -> Splits:
    flags = np.asarray(list(mask) if not isinstance(mask, np.ndarray) else mask)
    if flags.shape != (n,):
        raise ValueError(f"{who}: the mask has shape {flags.shape} for {n} items; give one flag per item")
    if flags.dtype != bool:
        if flags.dtype.kind not in "biu" or not np.isin(flags, (0, 1)).all():
            raise TypeError(f"{who}: mask values must be booleans, got dtype {flags.dtype}")
        flags = flags.astype(bool)
    return _checked(who, n, np.flatnonzero(~flags), np.flatnonzero(flags))


def _names(x: Any) -> set[str]:
    return {x} if isinstance(x, str) else set(map(str, x))


def GrandparentSplitter(
    train_name: str | Iterable[str] = "train", valid_name: str | Iterable[str] = "valid"
) -> Callable[[Sequence], Splits]:
    """Split file paths by their grandparent folder's name (`train/<label>/x.png`, `valid/<label>/y.png`).

    Items under neither folder are left out of both sets.
    """
    who = f"GrandparentSplitter(train_name={train_name!r}, valid_name={valid_name!r})"
    train_names, valid_names = _names(train_name), _names(valid_name)

    def _split(items: Sequence) -> Splits:
        n = _count(items, who)
        grand = [Path(o).parent.parent.name for o in items]
        train = [i for i, g in enumerate(grand) if g in train_names]
        valid = [i for i, g in enumerate(grand) if g in valid_names]
        if not train or not valid:
            found = sorted(set(grand))[:10]
            missing = "training" if not train else "validation"
            raise ValueError(
                f"{who}: no item has a {missing} grandparent folder; the grandparent folders found are "
                f"{found} ({n} items)"
            )
        return _checked(who, n, train, valid)

    return _named(_split, who)


def FuncSplitter(func: Callable[[Any], bool]) -> Callable[[Sequence], Splits]:
    """Items for which `func(item)` is true form the validation set."""
    if not callable(func):
        raise TypeError(f"FuncSplitter: func must be callable, got {type(func).__name__}")
    who = f"FuncSplitter({getattr(func, '__name__', type(func).__name__)})"

    def _split(items: Sequence) -> Splits:
        n = _count(items, who)
        flags = []
        for i, o in enumerate(items):
            try:
                flags.append(bool(func(o)))
            except Exception as e:
                raise _failure(e, f"{who} failed on item {i} ({_short(o)})") from e
        return _mask_split(who, n, flags)

    return _named(_split, who)


def _short(o: Any, limit: int = 80) -> str:
    text = repr(o)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def MaskSplitter(mask: Iterable[bool]) -> Callable[[Sequence], Splits]:
    """`mask[i]` true puts item `i` in the validation set (one flag per item)."""
    who = "MaskSplitter"
    flags = mask.tolist() if hasattr(mask, "tolist") else list(mask)

    def _split(items: Sequence) -> Splits:
        return _mask_split(who, _count(items, who), flags)

    return _named(_split, who)


def FileSplitter(fname: str | os.PathLike) -> Callable[[Sequence], Splits]:
    """The items whose file name is listed in the text file `fname` (one name a line) form the
    validation set."""
    who = f"FileSplitter({str(fname)!r})"
    path = Path(fname)
    if not path.is_file():
        raise FileNotFoundError(f"{who}: no such file")
    listed = {line.strip() for line in path.read_text().splitlines() if line.strip()}

    def _split(items: Sequence) -> Splits:
        n = _count(items, who)
        return _mask_split(who, n, [Path(o).name in listed for o in items])

    return _named(_split, who)


def ColSplitter(col: str | int = "is_valid", on: Any = None) -> Callable[[Any], Splits]:
    """Split a pandas DataFrame by column `col` (a name or a position): rows where it is true (or equal
    to `on`, or in `on` when it is a list) form the validation set."""
    who = f"ColSplitter({col!r})"

    def _split(df: Any) -> Splits:
        try:
            import pandas as pd
        except ImportError as e:
            raise ImportError(f"{who} splits a pandas DataFrame, and pandas is not installed") from e
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"{who} expects a pandas DataFrame, got {type(df).__name__}")
        n = _count(df, who)
        if isinstance(col, int) and not isinstance(col, bool):
            if not -df.shape[1] <= col < df.shape[1]:
                raise IndexError(f"{who}: column position {col} out of range for {df.shape[1]} columns")
            c = df.iloc[:, col]
        else:
            if col not in df.columns:
                raise KeyError(f"{who}: no column {col!r}; the columns are {list(df.columns)}")
            c = df[col]
        if on is None:
            flags = c.to_numpy()
            if flags.dtype != bool and not np.isin(flags, (0, 1)).all():
                raise TypeError(f"{who}: column {col!r} must hold booleans (or 0/1); pass on= to compare")
            flags = flags.astype(bool)
        else:
            flags = (c.isin(on) if is_listy(on) else c == on).to_numpy()
        return _mask_split(who, n, flags)

    return _named(_split, who)


def RandomSubsetSplitter(
    train_sz: float, valid_sz: float, seed: int | None = None
) -> Callable[[Sequence], Splits]:
    """Random subsets of the items: a fraction `train_sz` for training, `valid_sz` for validation
    (disjoint; the rest is left out)."""
    who = f"RandomSubsetSplitter(train_sz={train_sz!r}, valid_sz={valid_sz!r})"
    train_sz = _fraction("train_sz", train_sz, who, closed=False)
    valid_sz = _fraction("valid_sz", valid_sz, who, closed=False)
    if train_sz + valid_sz > 1:
        raise ValueError(f"{who}: train_sz + valid_sz must be at most 1")

    def _split(items: Sequence) -> Splits:
        n = _count(items, who)
        order = _permutation(n, seed)
        n_train, n_valid = int(n * train_sz), int(n * valid_sz)
        return _checked(who, n, order[:n_train], order[n_train : n_train + n_valid])

    return _named(_split, who)
