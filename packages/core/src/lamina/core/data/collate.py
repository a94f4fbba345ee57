"""Batch structures: a list of items into one batch (`collate`), a lone item as a batch (`convert`),
the tensor types that collation dropped put back (`restore_types`), a function over every tensor of a
batch (`map_tensors`)."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["CollateError", "collate", "convert", "restore_types", "map_tensors"]

_NUMERIC_KINDS = frozenset("biufc")  # numpy dtype kinds that become tensors


class CollateError(ValueError):
    """Items that cannot be put into one batch.

    `path` says where inside each item the problem sits (e.g. `[0]['mask']`), `groups` maps a
    description (a shape, a type, a set of keys) to the positions in the batch that have it.
    """

    def __init__(
        self, message: str, path: str = "", groups: dict[str, list[int]] | None = None, summary: str = ""
    ):
        super().__init__(message)
        self.path, self.groups, self.summary = path, dict(groups or {}), summary or message


def collate(items: Sequence[Any]) -> Any:
    """Stack a list of items into a batch, keeping the structure of the items.

    Tensors are stacked (a tensor subclass keeps its type through `torch.stack`); numeric numpy
    arrays and numpy scalars become tensors; Python `int` -> int64, `float` -> float64, `bool` ->
    bool tensors; strings and bytes stay a list; tuples (named ones too), lists and dicts are
    collated field by field. Items that do not fit together raise `CollateError`.
    """
    if len(items) == 0:
        raise CollateError("cannot collate an empty list of items")
    return _collate(items, "")


def _where(path: str) -> str:
    return f" at item{path}" if path else ""


def _by(items: Sequence[Any], key) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, x in enumerate(items):
        groups.setdefault(key(x), []).append(i)
    return groups


def _describe(groups: dict[str, list[int]]) -> str:
    shown = {k: f"{v[:8]}"[:-1] + (", ...]" if len(v) > 8 else "]") for k, v in groups.items()}
    return "; ".join(f"{k} at batch positions {v}" for k, v in shown.items())


def _type_name(x: Any) -> str:
    t = type(x)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _mismatch(items: Sequence[Any], path: str, what: str, key) -> CollateError:
    groups = _by(items, key)
    summary = f"cannot collate items with different {what}"
    return CollateError(f"{summary}{_where(path)}: {_describe(groups)}", path, groups, summary)


def _collate(items: Sequence[Any], path: str) -> Any:
    first = items[0]
    if isinstance(first, torch.Tensor):
        return _stack_tensors(items, path)
    if isinstance(first, np.ndarray) and first.dtype.kind in _NUMERIC_KINDS:
        return _stack_arrays(items, path)
    if isinstance(first, (str, bytes)):
        _check_all(items, (str, bytes), path)
        return list(items)
    if isinstance(first, (numbers.Number, np.generic)):
        return _numbers(items, path)
    if isinstance(first, Mapping):
        return _mappings(items, path)
    if isinstance(first, (tuple, list)):
        return _sequences(items, path)
    if isinstance(first, np.ndarray):  # strings or objects: nothing to stack
        _check_all(items, np.ndarray, path)
        return list(items)
    summary = f"cannot collate items of type {_type_name(first)}"
    advice = "make them tensors, arrays or numbers (e.g. in `after_item`), or pass your own `create_batch`"
    raise CollateError(f"{summary}{_where(path)}: {advice}", path, {}, summary)


def _check_all(items: Sequence[Any], kind, path: str) -> None:
    if len(set(map(type, items))) == 1 and isinstance(items[0], kind):
        return
    if not all(isinstance(x, kind) for x in items):
        raise _mismatch(items, path, "types", _type_name)


def _stack_tensors(items: Sequence[Any], path: str) -> torch.Tensor:
    try:
        return torch.stack(list(items))  # the checks below only run to explain a failure
    except (RuntimeError, TypeError):
        _check_all(items, torch.Tensor, path)
        shape = items[0].shape
        if any(x.shape != shape for x in items):
            raise _mismatch(
                items, path, "shapes (ragged tensors)", lambda x: f"shape {tuple(x.shape)}"
            ) from None
        raise


def _stack_arrays(items: Sequence[Any], path: str) -> torch.Tensor:
    _check_all(items, np.ndarray, path)
    try:
        return torch.from_numpy(np.stack(items))
    except ValueError:
        shape = items[0].shape
        if any(x.shape != shape for x in items):
            raise _mismatch(items, path, "shapes (ragged arrays)", lambda x: f"shape {x.shape}") from None
        raise


def _numbers(items: Sequence[Any], path: str) -> torch.Tensor:
    kinds = set(map(type, items))
    if kinds == {int}:
        return torch.tensor(items, dtype=torch.int64)
    if kinds <= {int, float, bool}:
        dtype = torch.bool if kinds == {bool} else torch.int64 if float not in kinds else torch.float64
        return torch.tensor(items, dtype=dtype)
    if not all(isinstance(x, (numbers.Number, np.generic)) for x in items):
        raise _mismatch(items, path, "types", _type_name)
    if any(isinstance(x, np.generic) for x in items):
        array = np.asarray(items)
        if array.dtype.kind not in _NUMERIC_KINDS:
            raise _mismatch(items, path, "types", _type_name)
        return torch.from_numpy(array)
    return torch.tensor(items, dtype=torch.complex128)


def _mappings(items: Sequence[Any], path: str) -> Any:
    _check_all(items, Mapping, path)
    keys = set(items[0])
    if any(set(x) != keys for x in items):
        raise _mismatch(items, path, "keys", lambda x: f"keys {sorted(map(str, x))}")
    first = items[0]
    out = {k: _collate([x[k] for x in items], f"{path}[{k!r}]") for k in first}
    if type(first) is dict:
        return out
    try:
        return type(first)(out)
    except TypeError:
        return out


def _sequences(items: Sequence[Any], path: str) -> Any:
    first = items[0]
    _check_all(items, (tuple, list), path)
    if len(set(map(len, items))) != 1:
        raise _mismatch(items, path, "lengths", lambda x: f"length {len(x)}")
    fields = [_collate(column, f"{path}[{i}]") for i, column in enumerate(zip(*items))]
    return _rebuild(first, fields)


def _rebuild(like: Any, fields: list[Any]) -> Any:
    """A container of `like`'s type holding `fields` (a plain tuple/list when that type refuses)."""
    kind = type(like)
    if kind is tuple or kind is list:
        return kind(fields)
    try:
        return kind(*fields) if hasattr(like, "_fields") else kind(fields)
    except TypeError:
        return tuple(fields) if isinstance(like, tuple) else list(fields)


def convert(item: Any) -> Any:
    """An item as a batch of its own (`bs=None`): numeric numpy arrays become tensors, containers
    keep their structure, everything else is left as it is."""
    if isinstance(item, np.ndarray):
        return torch.from_numpy(item) if item.dtype.kind in _NUMERIC_KINDS else item
    if isinstance(item, (str, bytes, torch.Tensor)):
        return item
    if isinstance(item, Mapping):
        out = {k: convert(v) for k, v in item.items()}
        try:
            return out if type(item) is dict else type(item)(out)
        except TypeError:
            return out
    if isinstance(item, (tuple, list)):
        return _rebuild(item, [convert(x) for x in item])
    return item


def restore_types(result: Any, example: Any) -> Any:
    """Give each tensor in `result` the tensor subclass (and metadata) of the matching part of
    `example` when collation lost them. Structures are walked in parallel; plain parts pass."""
    if isinstance(result, torch.Tensor):
        kind = type(example)
        if kind is torch.Tensor or not isinstance(example, torch.Tensor):
            return result
        if type(result) is not kind:
            result = result.as_subclass(kind)
        meta = getattr(example, "__dict__", None)
        if meta:
            missing = {k: v for k, v in meta.items() if k not in result.__dict__}
            result.__dict__.update(missing)
        return result
    containers = (tuple, list)
    if isinstance(result, containers) and isinstance(example, containers) and len(result) == len(example):
        fields = [restore_types(r, e) for r, e in zip(result, example)]
        if all(f is r for f, r in zip(fields, result)):
            return result
        return _rebuild(result, fields)
    if isinstance(result, dict) and isinstance(example, Mapping):
        for k, v in result.items():
            if k in example:
                result[k] = restore_types(v, example[k])
        return result
    return result


def map_tensors(fn: Callable[[torch.Tensor], Any], batch: Any) -> Any:
    """Apply `fn` to every tensor in `batch`, rebuilding tuples (named ones too), lists and dicts
    around the results; anything else is returned unchanged."""
    if isinstance(batch, torch.Tensor):
        return fn(batch)
    if isinstance(batch, (str, bytes)):
        return batch
    if isinstance(batch, tuple):
        fields = [map_tensors(fn, x) for x in batch]
        if type(batch) is tuple:
            return tuple(fields)
        return type(batch)(*fields) if hasattr(batch, "_fields") else type(batch)(fields)
    if isinstance(batch, list):
        return type(batch)(map_tensors(fn, x) for x in batch)
    if isinstance(batch, Mapping):
        out = {k: map_tensors(fn, v) for k, v in batch.items()}
        try:
            return out if type(batch) is dict else type(batch)(out)
        except TypeError:
            return out
    return batch
