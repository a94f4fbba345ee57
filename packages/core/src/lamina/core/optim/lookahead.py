"""`Lookahead` (Zhang et al. 2019) around any Lamina optimizer, and `ranger` (Lookahead over RAdam)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from lamina.core.optim.base import OptimizerBase
from lamina.core.optim.optimizers import RAdam
from lamina.core.optim.param_groups import ParamsArg

__all__ = ["Lookahead", "ranger"]


class Lookahead(OptimizerBase):
    """Every `k` steps of `opt`, move slow weights `alpha` of the way to the fast ones and restart the fast
    weights from there: `slow += alpha * (fast - slow)`, `fast = slow`.

    Offers the interface of the optimizer it wraps (`hypers`, `set_hyper`, `freeze_to`, `state`, ...).
    """

    def __init__(self, opt: OptimizerBase, k: int = 6, alpha: float = 0.5) -> None:
        if not hasattr(opt, "param_lists") or not hasattr(opt, "step"):
            raise TypeError(f"Lookahead: opt must be a Lamina optimizer, got {type(opt).__name__}")
        if int(k) != k or k < 1:
            raise ValueError(f"Lookahead: k must be a positive integer, got {k}")
        if not 0 <= alpha <= 1:
            raise ValueError(f"Lookahead: alpha must be in [0, 1], got {alpha}")
        self.opt, self.k, self.alpha = opt, int(k), float(alpha)
        self.count = 0
        self.slow_weights: list[list[torch.Tensor]] | None = None

    @property
    def param_lists(self) -> list[list[torch.Tensor]]:
        return self.opt.param_lists

    @property
    def hypers(self) -> list[dict[str, Any]]:
        return self.opt.hypers

    @property
    def state(self) -> dict[torch.Tensor, dict[str, Any]]:
        return self.opt.state

    @property
    def frozen_idx(self) -> int:
        return self.opt.frozen_idx

    def freeze_to(self, n: int) -> None:
        self.opt.freeze_to(n)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.opt.zero_grad(set_to_none)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """A step of the wrapped optimizer; every `k`-th one also syncs slow and fast weights."""
        if self.slow_weights is None:
            self.slow_weights = [[p.detach().clone() for p in params] for params in self.param_lists]
        loss = self.opt.step(closure)
        self.count += 1
        if self.count % self.k == 0:
            fast = [p for params in self.param_lists for p in params]
            slow = [p for params in self.slow_weights for p in params]
            torch._foreach_lerp_(slow, fast, self.alpha)
            torch._foreach_copy_(fast, slow)
        return loss

    def clear_state(self) -> None:
        """Clear the wrapped optimizer's state and restart the slow weights."""
        self.opt.clear_state()
        self.count, self.slow_weights = 0, None

    def state_dict(self) -> dict[str, Any]:
        """The wrapped optimizer's state dict plus `count` and `slow_weights`."""
        return {**self.opt.state_dict(), "count": self.count, "slow_weights": self.slow_weights}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        if "count" not in sd or "slow_weights" not in sd:
            raise ValueError("Lookahead.load_state_dict: the state dict has no 'count'/'slow_weights'")
        sd = dict(sd)
        count, slow = sd.pop("count"), sd.pop("slow_weights")
        self.opt.load_state_dict(sd)
        if slow is not None:
            sizes = [len(params) for params in self.param_lists]
            if [len(group) for group in slow] != sizes:
                raise ValueError(
                    f"Lookahead.load_state_dict: slow weights for {[len(g) for g in slow]} parameters per "
                    f"group, this optimizer has {sizes}"
                )
            slow = [
                [w.to(device=p.device, dtype=p.dtype, copy=True) for w, p in zip(ws, params)]
                for ws, params in zip(slow, self.param_lists)
            ]
        self.count, self.slow_weights = int(count), slow


def ranger(
    params: ParamsArg,
    lr: float | Sequence[float] | slice,
    mom: float = 0.95,
    sqr_mom: float = 0.99,
    eps: float = 1e-6,
    wd: float = 0.01,
    beta: float = 0.0,
    k: int = 6,
    alpha: float = 0.5,
    decouple_wd: bool = True,
) -> Lookahead:
    """Ranger: `Lookahead(RAdam(...), k, alpha)`."""
    opt = RAdam(params, lr=lr, mom=mom, sqr_mom=sqr_mom, eps=eps, wd=wd, beta=beta, decouple_wd=decouple_wd)
    return Lookahead(opt, k=k, alpha=alpha)
