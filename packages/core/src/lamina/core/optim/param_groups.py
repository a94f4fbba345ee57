"""Turn the `params` argument of an optimizer into parameter lists and per-group overrides."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["ParamsArg", "split_param_groups"]

ParamsArg = Iterable[torch.Tensor] | Iterable[Iterable[torch.Tensor]] | Iterable[Mapping[str, Any]]


def _as_tensor_list(items: Any, owner: str, where: str) -> list[torch.Tensor]:
    if isinstance(items, torch.Tensor):
        raise TypeError(f"{owner}: {where} is a single tensor; give a list of tensors")
    try:
        tensors = list(items)
    except TypeError:
        raise TypeError(
            f"{owner}: {where} must be an iterable of tensors, got {type(items).__name__}"
        ) from None
    for j, t in enumerate(tensors):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{owner}: {where}, item {j} is a {type(t).__name__}, not a tensor")
        if not t.is_leaf:
            raise ValueError(f"{owner}: {where}, item {j} is not a leaf tensor; only leaves can be optimized")
    return tensors


def split_param_groups(
    params: ParamsArg, owner: str
) -> tuple[list[list[torch.Tensor]], list[dict[str, Any]]]:
    """Split `params` into one list of tensors per group and one dict of hyper-parameter overrides per group.

    `params` is an iterable of tensors (one group), an iterable of iterables of tensors (one group each)
    or an iterable of dicts `{'params': [...], 'lr': ...}` (one group each, the other keys override the
    optimizer's defaults for that group). `owner` names the optimizer in error messages.
    """
    if isinstance(params, nn.Module):
        raise TypeError(f"{owner}: got a Module; pass `model.parameters()` or a list of parameter groups")
    if isinstance(params, (torch.Tensor, Mapping)):
        raise TypeError(f"{owner}: params must be an iterable of tensors, of lists of tensors or of dicts")
    items = list(params)
    if not items:
        raise ValueError(f"{owner}: got an empty parameter list")
    first = items[0]
    if isinstance(first, torch.Tensor):
        groups, overrides = [_as_tensor_list(items, owner, "params")], [{}]
    elif isinstance(first, Mapping):
        groups, overrides = [], []
        for i, group in enumerate(items):
            if not isinstance(group, Mapping):
                raise TypeError(
                    f"{owner}: param group {i} is a {type(group).__name__}; the first one is a dict"
                )
            if "params" not in group:
                raise ValueError(f"{owner}: param group {i} is a dict without a 'params' key")
            groups.append(_as_tensor_list(group["params"], owner, f"param group {i}"))
            overrides.append({k: v for k, v in group.items() if k != "params"})
    else:
        for i, o in enumerate(items):
            if isinstance(o, Mapping):
                raise TypeError(f"{owner}: param group {i} is a dict; the first one is a list")
        groups = [_as_tensor_list(o, owner, f"param group {i}") for i, o in enumerate(items)]
        overrides = [{} for _ in groups]
    seen: dict[int, int] = {}
    for i, group in enumerate(groups):
        for t in group:
            if id(t) in seen:
                raise ValueError(f"{owner}: a parameter appears twice (param groups {seen[id(t)]} and {i})")
            seen[id(t)] = i
    if not seen:
        raise ValueError(f"{owner}: got an empty parameter list")
    return groups, overrides
