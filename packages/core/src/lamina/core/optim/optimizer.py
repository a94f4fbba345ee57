"""`Optimizer`: a list of stats and steppers applied to each group of parameters (paper section 4.5)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import torch

from lamina.core.optim.base import OptimizerBase, spread_hyper
from lamina.core.optim.batch import batch_params
from lamina.core.optim.hyper_defaults import accepted_hypers, defaults_of, needed_hypers
from lamina.core.optim.param_groups import ParamsArg, split_param_groups

__all__ = ["Optimizer"]

KEEP_ON_CLEAR = ("force_train", "do_wd")


class Optimizer(OptimizerBase):
    """Updates parameters with `cbs`, a list of stats and steppers, each called as `cb(batch, **hypers)`.

    `params` is an iterable of tensors, a list of lists of tensors (parameter groups) or a list of dicts
    `{'params': [...], 'lr': ...}`. The hyper-parameters of each group start from the defaults the
    callbacks declare, then `lr` and `defaults` (scalars, one value per group or slices), then the
    group's own dict. Parameters without a gradient or that do not require one are skipped;
    `state[p]['do_wd'] = False` exempts `p` from weight decay and `state[p]['force_train'] = True` keeps
    it training in frozen groups.
    """

    def __init__(
        self,
        params: ParamsArg,
        cbs: Callable | Sequence[Callable],
        lr: float | Sequence[float] | slice = 1e-3,
        **defaults: Any,
    ) -> None:
        name = type(self).__name__
        self.cbs = [cbs] if callable(cbs) else list(cbs)
        for cb in self.cbs:
            if not callable(cb):
                raise TypeError(
                    f"{name}: cbs must be callables (stats and steppers), got {type(cb).__name__}"
                )
        self.param_lists, overrides = split_param_groups(params, name)
        self.state: dict[torch.Tensor, dict[str, Any]] = defaultdict(dict)
        self.hypers: list[dict[str, Any]] = [{} for _ in self.param_lists]
        merged: dict[str, Any] = {}
        for cb in self.cbs:
            merged.update(defaults_of(cb))
        merged.update(defaults, lr=lr)
        self.set_hypers(**merged)
        known = set(merged).union(*(accepted_hypers(cb) for cb in self.cbs))
        for i, (hyper, override) in enumerate(zip(self.hypers, overrides)):
            unknown = sorted(set(override) - known)
            if unknown:
                raise ValueError(
                    f"{name}: param group {i} sets {unknown}, which no stat or stepper uses "
                    f"(known: {sorted(known)})"
                )
            hyper.update({k: spread_hyper(k, v, 1)[0] for k, v in override.items()})
        for cb in self.cbs:
            missing = needed_hypers(cb) - set(self.hypers[0])
            if missing:
                cb_name = getattr(cb, "__name__", None) or getattr(
                    getattr(cb, "func", None), "__name__", repr(cb)
                )
                raise ValueError(f"{name}: {cb_name} needs the hyper-parameters {sorted(missing)}; pass them")
        self.frozen_idx = 0

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Apply the stats and steppers to every trainable parameter with a gradient.

        `closure`, if given, recomputes the loss (with gradients enabled) first; its result is returned.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        name = type(self).__name__
        for gi, (params, hyper) in enumerate(zip(self.param_lists, self.hypers)):
            for batch in batch_params(params, self.state, gi, name):
                for cb in self.cbs:
                    cb(batch, **hyper)
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop the gradients (`set_to_none`, the default, as `torch.optim`) or zero them in place."""
        with_grad = [p for params in self.param_lists for p in params if p.grad is not None]
        if set_to_none:
            for p in with_grad:
                p.grad = None
        elif with_grad:
            for p in with_grad:
                if p.grad.grad_fn is not None:
                    p.grad.detach_()
                else:
                    p.grad.requires_grad_(False)
            torch._foreach_zero_([p.grad for p in with_grad])

    def clear_state(self) -> None:
        """Forget the optimizer state (averages, step counts), keeping the `force_train`/`do_wd` flags."""
        for params in self.param_lists:
            for p in params:
                old = self.state.get(p, {})
                self.state[p] = {k: old[k] for k in KEEP_ON_CLEAR if k in old}

    def state_dict(self) -> dict[str, Any]:
        """`{'state': [one dict per parameter, in group order], 'hypers': [...], 'group_sizes': [...]}`.

        Holds tensors (shared with the optimizer, as in `torch.optim`) and plain Python data only, so
        `torch.load(..., weights_only=True)` reads a saved one.
        """
        return {
            "state": [dict(self.state.get(p, {})) for params in self.param_lists for p in params],
            "hypers": [dict(h) for h in self.hypers],
            "group_sizes": [len(params) for params in self.param_lists],
        }

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        """Load a `state_dict`: tensors are copied to each parameter's device (and dtype when floating)."""
        name = type(self).__name__
        if not isinstance(sd, dict) or "state" not in sd or "hypers" not in sd:
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'hypers'")
        n_groups = len(self.param_lists)
        if len(sd["hypers"]) != n_groups:
            raise ValueError(
                f"{name}.load_state_dict: the state dict has {len(sd['hypers'])} parameter groups, "
                f"this optimizer has {n_groups}"
            )
        sizes = [len(params) for params in self.param_lists]
        if list(sd.get("group_sizes", sizes)) != sizes or len(sd["state"]) != sum(sizes):
            theirs = sd.get("group_sizes", f"{len(sd['state'])} in all")
            raise ValueError(
                f"{name}.load_state_dict: the state dict has {theirs} parameters per group, "
                f"this optimizer has {sizes}"
            )
        params = [p for group in self.param_lists for p in group]
        new_state = {p: _state_for(p, s, i, name) for i, (p, s) in enumerate(zip(params, sd["state"]))}
        self.hypers = [dict(h) for h in sd["hypers"]]
        self.state = defaultdict(dict, new_state)


def _state_for(p: torch.Tensor, saved: dict[str, Any], index: int, owner: str) -> dict[str, Any]:
    out = {}
    for key, value in saved.items():
        if isinstance(value, torch.Tensor):
            if value.shape != p.shape and value.ndim > 0:
                raise ValueError(
                    f"{owner}.load_state_dict: state {key!r} of parameter {index} has shape "
                    f"{tuple(value.shape)}, the parameter {tuple(p.shape)}"
                )
            dtype = p.dtype if value.is_floating_point() and p.is_floating_point() else value.dtype
            value = value.to(device=p.device, dtype=dtype, copy=True)
        out[key] = value
    return out
