"""`OptimWrapper`: any `torch.optim` optimizer behind the Lamina optimizer interface."""

from __future__ import annotations

import inspect
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

import torch

from lamina.core.optim.base import OptimizerBase
from lamina.core.optim.param_groups import ParamsArg, split_param_groups

__all__ = ["OptimWrapper", "TORCH_HP_MAP"]

TORCH_HP_MAP: dict[str, str] = {
    "momentum": "mom",
    "betas__0": "mom",
    "betas__1": "sqr_mom",
    "alpha": "sqr_mom",
    "weight_decay": "wd",
}
"""Torch hyper-parameter name -> Lamina name; `name__i` is item `i` of a tuple such as `betas`."""


class TorchGroupHypers(MutableMapping):
    """A live view of one `torch.optim` param group under Lamina names: reads and writes go to the group."""

    def __init__(self, group: dict[str, Any], to_ours: Mapping[str, str], owner: str) -> None:
        self.group, self.to_ours, self.owner = group, to_ours, owner

    def _torch_names(self) -> Iterator[str]:
        for key, value in self.group.items():
            if key == "params":
                continue
            if isinstance(value, tuple):
                yield from (f"{key}__{i}" for i in range(len(value)))
            else:
                yield key

    def _locate(self, key: str) -> tuple[str, int | None]:
        name = next((n for n in self._torch_names() if self.to_ours.get(n) == key), key)
        base, sep, idx = name.rpartition("__")
        if sep and idx.isdigit() and isinstance(self.group.get(base), tuple):
            return base, int(idx)
        if name in self.group and name != "params":
            return name, None
        known = sorted(self.keys())
        raise KeyError(f"{self.owner}: no hyper-parameter {key!r} in this torch optimizer (it has {known})")

    def __getitem__(self, key: str) -> Any:
        name, idx = self._locate(key)
        return self.group[name] if idx is None else self.group[name][idx]

    def __setitem__(self, key: str, value: Any) -> None:
        name, idx = self._locate(key)
        if idx is None:
            self.group[name] = value
        else:
            items = list(self.group[name])
            items[idx] = value
            self.group[name] = tuple(items)

    def __delitem__(self, key: str) -> None:
        raise TypeError(f"{self.owner}: hyper-parameters of a torch optimizer cannot be deleted")

    def __iter__(self) -> Iterator[str]:
        seen = set()
        for name in self._torch_names():
            ours = self.to_ours.get(name, name)
            if ours not in seen:
                seen.add(ours)
                yield ours

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return repr(dict(self.items()))


class OptimWrapper(OptimizerBase):
    """Wrap a `torch.optim` optimizer class `opt` (built here on `params`) or a built one (`params=None`).

    `hypers` are live views of the torch param groups under Lamina names (`hp_map`, torch name -> ours,
    defaults to `TORCH_HP_MAP`: `momentum`/`betas[0]` -> `mom`, `betas[1]`/`alpha` -> `sqr_mom`,
    `weight_decay` -> `wd`), so `set_hyper` and the schedulers drive the torch optimizer. `kwargs` that
    `opt` accepts go to its constructor; the others are Lamina names set afterwards (`wd=0.1`).
    With `convert_groups`, `params` may take every form `Optimizer` takes (list of lists, dicts using
    either naming). `state[p]` holds the Lamina flags; `force_train` is honoured by `freeze_to`, while
    `do_wd` cannot be (torch applies weight decay per group): a warning says so.
    """

    def __init__(
        self,
        params: ParamsArg | None,
        opt: Callable[..., torch.optim.Optimizer] | torch.optim.Optimizer = torch.optim.AdamW,
        hp_map: Mapping[str, str] | None = None,
        convert_groups: bool = True,
        **kwargs: Any,
    ) -> None:
        name = "OptimWrapper"
        overrides: list[dict[str, Any]] = []
        ours: dict[str, Any] = {}
        if isinstance(opt, torch.optim.Optimizer):
            if params is not None:
                raise ValueError(f"{name}: got both params and a built optimizer; pass params=None")
            if kwargs:
                raise ValueError(
                    f"{name}: keyword arguments {sorted(kwargs)} need an optimizer class, not one built"
                )
            self.opt = opt
        elif callable(opt):
            try:
                accepted = set(inspect.signature(opt).parameters)
            except (TypeError, ValueError):
                accepted = set(kwargs)
            torch_kwargs = {k: v for k, v in kwargs.items() if k in accepted}
            ours = {k: v for k, v in kwargs.items() if k not in accepted}
            if convert_groups:
                groups, overrides = split_param_groups(params, name)
                params = [{"params": g} for g in groups]
            self.opt = opt(params, **torch_kwargs)
        else:
            raise TypeError(
                f"{name}: opt must be a torch.optim optimizer class or instance, got {type(opt).__name__} "
                "(pass lr by keyword: OptimWrapper(params, lr=...))"
            )
        self.to_ours = dict(TORCH_HP_MAP if hp_map is None else hp_map)
        self.state: dict[torch.Tensor, dict[str, Any]] = defaultdict(dict)
        self.frozen_idx = 0
        self._warned_do_wd = False
        self.set_hypers(**ours)
        for hyper, override in zip(self.hypers, overrides):
            for key, value in override.items():
                hyper[key] = value

    @property
    def param_lists(self) -> list[list[torch.Tensor]]:
        return [group["params"] for group in self.opt.param_groups]

    @property
    def hypers(self) -> list[TorchGroupHypers]:
        return [TorchGroupHypers(group, self.to_ours, "OptimWrapper") for group in self.opt.param_groups]

    def _warn_ignored_do_wd(self) -> None:
        self._warned_do_wd = True
        for hyper, params in zip(self.hypers, self.param_lists):
            wd = hyper.get("wd", 0)
            if wd and any(self.state.get(p, {}).get("do_wd") is False for p in params):
                warnings.warn(
                    f"OptimWrapper({type(self.opt).__name__}): some parameters have do_wd=False but the "
                    "torch optimizer applies weight_decay to its whole group; give them their own group with "
                    "weight_decay=0",
                    stacklevel=3,
                )
                return

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        if not self._warned_do_wd:
            self._warn_ignored_do_wd()
        return self.opt.step(closure)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.opt.zero_grad(set_to_none=set_to_none)

    def clear_state(self) -> None:
        """Forget the torch optimizer's state (the Lamina flags in `state` stay)."""
        self.opt.state = defaultdict(dict)

    def state_dict(self) -> dict[str, Any]:
        """The torch optimizer's own state dict."""
        return self.opt.state_dict()

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        try:
            self.opt.load_state_dict(sd)
        except (ValueError, KeyError) as e:
            raise ValueError(f"OptimWrapper.load_state_dict ({type(self.opt).__name__}): {e}") from e
