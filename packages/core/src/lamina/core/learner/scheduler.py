"""`ParamScheduler` and the training policies built on it: one-cycle, flat-then-cosine, SGDR, fine-tuning.

A schedule is a function `f(pos)` of the fraction of training done (`learn.pct_train`, in [0, 1]);
see `lamina.core.learner.annealing`. The policies are methods of `Learner` (through
`FitPoliciesMixin`): `learn.fit_one_cycle(...)` and friends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from lamina.core.learner.annealing import SchedCos, combine_scheds, combined_cos
from lamina.core.learner.callback import Callback

if TYPE_CHECKING:
    from lamina.core.learner.learner import Learner

__all__ = ["ParamScheduler", "FitPoliciesMixin"]

Sched = Callable[[float], Any]


def _as_hyper(value: Any) -> Any:
    """A schedule's value as `set_hyper` takes it: a float, or a list of floats (one per group)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, (np.ndarray, np.generic)):
        return value.item() if value.ndim == 0 else value.tolist()
    return value


class ParamScheduler(Callback):
    """Before each training batch, sets each hyper-parameter named in `scheds` to `sched(pct_train)`.

    `scheds` maps a hyper-parameter name (`'lr'`, `'mom'`, `'wd'`, ...) to a schedule `f(pos)` (its
    value may be a number or an array with one value per parameter group), or to a list of
    schedules, one per parameter group.
    """

    order = 60
    run_valid = False

    def __init__(self, scheds: Mapping[str, Sched | Sequence[Sched]]) -> None:
        if not isinstance(scheds, Mapping) or not scheds:
            raise TypeError(
                f"ParamScheduler: scheds must be a non-empty dict hyper -> schedule, got {scheds!r:.80}"
            )
        for name, sched in scheds.items():
            funcs = sched if isinstance(sched, (list, tuple)) else [sched]
            if not funcs or not all(callable(f) for f in funcs):
                raise TypeError(
                    f"ParamScheduler: the schedule for {name!r} must be a function f(pos) or a list of them "
                    f"(one per parameter group), got {sched!r:.80}"
                )
        self.scheds = dict(scheds)

    def before_fit(self) -> None:
        hypers = self.learn.opt.hypers
        missing = [k for k in self.scheds if k not in hypers[0]]
        if missing:
            raise KeyError(
                f"ParamScheduler: the optimizer has no hyper-parameter {missing}; it has {sorted(hypers[0])}"
            )
        for name, sched in self.scheds.items():
            if isinstance(sched, (list, tuple)) and len(sched) != len(hypers):
                raise ValueError(
                    f"ParamScheduler: {len(sched)} schedules for {name!r} but the optimizer has "
                    f"{len(hypers)} parameter groups"
                )

    def before_batch(self) -> None:
        self.set_position(self.learn.pct_train)

    def set_position(self, pos: float) -> None:
        """Set every scheduled hyper-parameter to its value at `pos` (clipped to [0, 1])."""
        pos = min(max(float(pos), 0.0), 1.0)
        opt = self.learn.opt
        for name, sched in self.scheds.items():
            if isinstance(sched, (list, tuple)):
                value = [_as_hyper(f(pos)) for f in sched]
            else:
                value = _as_hyper(sched(pos))
            opt.set_hyper(name, value)

    def __repr__(self) -> str:
        return f"ParamScheduler({self.scheds!r})"


class FitPoliciesMixin:
    """The fit policies of `Learner` (each runs `fit` with a `ParamScheduler`)."""

    def _lr_per_group(self: Learner, lr: Any) -> float | np.ndarray:
        """Set `lr` (default `self.lr`) on the optimizer; the resulting lr, one value or one per group."""
        if self.opt is None:
            self.create_opt()
        self.opt.set_hyper("lr", self.lr if lr is None else lr)
        lrs = [float(h["lr"]) for h in self.opt.hypers]
        return lrs[0] if all(v == lrs[0] for v in lrs) else np.array(lrs)

    def fit_one_cycle(
        self: Learner,
        n_epoch: int,
        lr_max: float | slice | Sequence[float] | None = None,
        div: float = 25.0,
        div_final: float = 1e5,
        pct_start: float = 0.25,
        wd: float | None = None,
        moms: tuple[float, float, float] | None = None,
        cbs: Any = None,
        reset_opt: bool = False,
        start_epoch: int = 0,
    ) -> None:
        """The 1cycle policy: the lr warms up from `lr_max/div` to `lr_max` (cosine) over the first
        `pct_start` of training, then anneals to `lr_max/div_final`; the momentum goes the opposite
        way through `moms` (default `self.moms`), when the optimizer has one."""
        lr = self._lr_per_group(lr_max)
        scheds: dict[str, Any] = {"lr": combined_cos(pct_start, lr / div, lr, lr / div_final)}
        moms = self.moms if moms is None else moms
        if moms is not None and "mom" in self.opt.hypers[0]:
            scheds["mom"] = combined_cos(pct_start, *moms)
        cbs = [ParamScheduler(scheds), *_listify(cbs)]
        self.fit(n_epoch, cbs=cbs, reset_opt=reset_opt, wd=wd, start_epoch=start_epoch)

    def fit_flat_cos(
        self: Learner,
        n_epoch: int,
        lr: float | slice | Sequence[float] | None = None,
        div_final: float = 1e5,
        pct_start: float = 0.75,
        wd: float | None = None,
        cbs: Any = None,
        reset_opt: bool = False,
        start_epoch: int = 0,
    ) -> None:
        """Flat lr for the first `pct_start` of training, then cosine annealing to `lr/div_final`."""
        lr = self._lr_per_group(lr)
        scheds = {"lr": combined_cos(pct_start, lr, lr, lr / div_final)}
        cbs = [ParamScheduler(scheds), *_listify(cbs)]
        self.fit(n_epoch, cbs=cbs, reset_opt=reset_opt, wd=wd, start_epoch=start_epoch)

    def fit_sgdr(
        self: Learner,
        n_cycles: int,
        cycle_len: int,
        lr_max: float | slice | Sequence[float] | None = None,
        cycle_mult: int = 2,
        cbs: Any = None,
        reset_opt: bool = False,
        wd: float | None = None,
        start_epoch: int = 0,
    ) -> None:
        """SGD with warm restarts: `n_cycles` cosine decays from `lr_max` to 0, the first lasting
        `cycle_len` epochs and each next one `cycle_mult` times longer."""
        if n_cycles < 1 or cycle_len < 1 or cycle_mult < 1:
            raise ValueError(
                "fit_sgdr: n_cycles, cycle_len and cycle_mult must be at least 1, got "
                f"{n_cycles}, {cycle_len}, {cycle_mult}"
            )
        lr = self._lr_per_group(lr_max)
        lengths = [cycle_len * cycle_mult**i for i in range(n_cycles)]
        n_epoch = sum(lengths)
        scheds = {"lr": combine_scheds([n / n_epoch for n in lengths], [SchedCos(lr, 0.0) for _ in lengths])}
        cbs = [ParamScheduler(scheds), *_listify(cbs)]
        self.fit(n_epoch, cbs=cbs, reset_opt=reset_opt, wd=wd, start_epoch=start_epoch)

    def fine_tune(
        self: Learner,
        epochs: int,
        base_lr: float = 2e-3,
        freeze_epochs: int = 1,
        lr_mult: float = 100,
        pct_start: float = 0.3,
        div: float = 5.0,
        **kwargs: Any,
    ) -> None:
        """Transfer learning: `freeze_epochs` one-cycle epochs with only the last parameter group
        training, then `epochs` with all of them, at discriminative lrs `slice(base_lr/2/lr_mult,
        base_lr/2)`. `kwargs` go to both `fit_one_cycle` calls."""
        self.freeze()
        self.fit_one_cycle(freeze_epochs, slice(base_lr), pct_start=0.99, **kwargs)
        base_lr /= 2
        self.unfreeze()
        self.fit_one_cycle(epochs, slice(base_lr / lr_mult, base_lr), pct_start=pct_start, div=div, **kwargs)


def _listify(x: Any) -> list[Any]:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]
