"""Callbacks that watch the training and act on it: `TerminateOnNaN`, and the trackers of a monitored
value (a loss or a metric of the `Recorder`): `EarlyStoppingCallback`, `SaveModelCallback`,
`ReduceLROnPlateau`. Trackers act only inside `fit` (not in `validate`/`get_preds`) and print through
`learn.logger` (silenced by `learn.no_logging()`)."""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from lamina.core.learner.callback import Callback, CancelFitException

__all__ = [
    "TerminateOnNaN",
    "TrackerCallback",
    "EarlyStoppingCallback",
    "SaveModelCallback",
    "ReduceLROnPlateau",
]


class TerminateOnNaN(Callback):
    """Stop the fit (`CancelFitException`) when the training loss becomes NaN or infinite, with a
    warning that names the epoch and batch; `stopped_at` keeps `(epoch, batch)` (None otherwise).

    Hot path: a flag `~isfinite(loss)` is or-ed into a device tensor each batch (no host read). On the
    CPU the flag is read every batch (free). On an accelerator it is copied to pinned host memory
    without blocking and read once the copy has landed, so the fit stops one or a few batches after
    the bad one (`stopped_at` is where it was seen); it is read with a wait at the end of each
    training phase, so a bad epoch never ends unnoticed. `check_every=n` reads only every n-th batch
    on the CPU too.
    """

    order = -9  # right after TrainEvalCallback: stop before other callbacks record the bad batch
    run_valid = False

    def __init__(self, check_every: int = 1) -> None:
        if isinstance(check_every, bool) or not isinstance(check_every, int) or check_every < 1:
            raise ValueError(f"TerminateOnNaN: check_every must be a positive int, got {check_every!r}")
        self.check_every = check_every
        self.stopped_at: tuple[int, int] | None = None
        self._bad: torch.Tensor | None = None
        self._host: torch.Tensor | None = None
        self._copied: Any = None  # the CUDA event of the copy in flight

    @property
    def name(self) -> str:
        return "terminate_on_nan"

    def before_fit(self) -> None:
        self.stopped_at = None
        self._bad = self._host = self._copied = None

    def after_batch(self) -> None:
        loss = self.learn.loss
        if loss is None:
            return
        bad = ~torch.isfinite(loss.detach()).all()
        self._bad = bad if self._bad is None else self._bad | bad
        if self._bad.device.type == "cuda":
            self._poll_device()
        elif (self.learn.iter + 1) % self.check_every == 0:
            self._check(bool(self._bad))

    def after_train(self) -> None:
        if self._bad is not None:
            self._check(bool(self._bad))  # one wait per epoch at most

    def _poll_device(self) -> None:
        if self._copied is not None and self._copied.query():
            landed = bool(self._host)
            self._copied = None
            self._check(landed)
        if self._copied is None:
            if self._host is None:
                self._host = torch.empty((), dtype=torch.bool, pin_memory=True)
            self._host.copy_(self._bad, non_blocking=True)
            self._copied = torch.cuda.Event()
            self._copied.record()

    def _check(self, bad: bool) -> None:
        if not bad:
            return
        learn = self.learn
        self.stopped_at = (learn.epoch, learn.iter)
        warnings.warn(
            f"TerminateOnNaN: the training loss is NaN or infinite (seen at epoch {learn.epoch}, batch "
            f"{learn.iter}); stopping the fit",
            RuntimeWarning,
            stacklevel=2,
        )
        raise CancelFitException()


def _default_comp(monitor: str) -> Callable[[Any, Any], bool]:
    return operator.lt if ("loss" in monitor or "error" in monitor) else operator.gt


def _is_less(comp: Callable) -> bool:
    return comp in (operator.lt, np.less, operator.le, np.less_equal)


class TrackerCallback(Callback):
    """Tracks `monitor` (a column of `learn.recorder`, e.g. `'valid_loss'`, `'accuracy'`) at the end of
    each epoch: `best` is the best value so far, `new_best` says whether this epoch improved it by
    more than `min_delta`. `comp(a, b)` says whether `a` is better than `b` (default: `<` for a name
    containing 'loss' or 'error', else `>`). `reset_on_fit=False` keeps `best` across fits.
    Runs after the `Recorder` (order 60)."""

    order = 60

    def __init__(
        self,
        monitor: str = "valid_loss",
        comp: Callable[[Any, Any], Any] | None = None,
        min_delta: float = 0.0,
        reset_on_fit: bool = True,
    ) -> None:
        if not isinstance(monitor, str):
            raise TypeError(f"{type(self).__name__}: monitor must be a column name, got {monitor!r}")
        self.monitor = monitor
        self.comp = comp if comp is not None else _default_comp(monitor)
        if not callable(self.comp):
            raise TypeError(f"{type(self).__name__}: comp must be a function (a, b) -> a better than b")
        self.min_delta = abs(float(min_delta))
        self.reset_on_fit = reset_on_fit
        self.best: float | None = None
        self.new_best = False
        self._col = -1

    def _worst(self) -> float:
        return math.inf if _is_less(self.comp) else -math.inf

    def before_fit(self) -> None:
        if not self.learn.in_fit:
            return
        if self.reset_on_fit or self.best is None:
            self.best = self._worst()
        recorder = self.learn.callbacks.get("recorder")
        if recorder is None:
            raise ValueError(
                f"{type(self).__name__} reads the Recorder's columns, and no Recorder is attached"
            )
        cols = recorder.metric_names[1:-1] if recorder.add_time else recorder.metric_names[1:]
        if self.monitor not in cols:
            raise ValueError(
                f"{type(self).__name__}: monitor {self.monitor!r} is not a column of the Recorder; the "
                f"columns are {cols}"
            )
        self._col = cols.index(self.monitor)

    def _improved(self, value: float) -> bool:
        delta = -self.min_delta if _is_less(self.comp) else self.min_delta
        return bool(self.comp(value - delta, self.best))

    def after_epoch(self) -> None:
        if not self.learn.in_fit:
            return
        values = self.learn.recorder.values
        value = values[-1][self._col] if values and self._col < len(values[-1]) else None
        self.new_best = value is not None and self._improved(value)
        if self.new_best:
            self.best = value

    @property
    def value(self) -> float | None:
        """The monitored value at the last epoch (None when it was not computed)."""
        values = self.learn.recorder.values
        return values[-1][self._col] if values else None


class EarlyStoppingCallback(TrackerCallback):
    """Stop the fit when `monitor` has not improved (by more than `min_delta`) for `patience` epochs."""

    def __init__(
        self,
        monitor: str = "valid_loss",
        comp: Callable[[Any, Any], Any] | None = None,
        min_delta: float = 0.0,
        patience: int = 1,
        reset_on_fit: bool = True,
    ) -> None:
        super().__init__(monitor=monitor, comp=comp, min_delta=min_delta, reset_on_fit=reset_on_fit)
        self.patience = patience
        self.wait = 0
        self.stopped_epoch: int | None = None

    def before_fit(self) -> None:
        super().before_fit()
        if self.learn.in_fit:
            self.wait, self.stopped_epoch = 0, None

    def after_epoch(self) -> None:
        super().after_epoch()
        if not self.learn.in_fit:
            return
        self.wait = 0 if self.new_best else self.wait + 1
        if self.wait >= self.patience:
            self.stopped_epoch = self.learn.epoch
            self.learn.logger(f"No improvement since epoch {self.learn.epoch - self.wait}: early stopping")
            raise CancelFitException()


class SaveModelCallback(TrackerCallback):
    """Save the model (`learn.save`) when `monitor` improves, to `fname`; at the end of the fit, load
    the best weights back. `every_epoch=True` saves after every epoch to `{fname}_{epoch}` instead (an
    int n: every n epochs) and loads nothing; `at_end=True` saves the final model to `fname` instead of
    loading the best. `with_opt` saves (and loads) the optimizer state too."""

    def __init__(
        self,
        monitor: str = "valid_loss",
        comp: Callable[[Any, Any], Any] | None = None,
        min_delta: float = 0.0,
        fname: str = "model",
        every_epoch: bool | int = False,
        at_end: bool = False,
        with_opt: bool = False,
        reset_on_fit: bool = True,
    ) -> None:
        super().__init__(monitor=monitor, comp=comp, min_delta=min_delta, reset_on_fit=reset_on_fit)
        if every_epoch and at_end:
            warnings.warn(
                "SaveModelCallback: every_epoch and at_end both set; the final model goes to fname as well",
                stacklevel=2,
            )
        self.fname, self.every_epoch, self.at_end, self.with_opt = fname, every_epoch, at_end, with_opt
        self.best_epoch: int | None = None
        self._saved_best = False

    def _save(self, name: str) -> None:
        self.learn.save(name, with_opt=self.with_opt)

    def before_fit(self) -> None:
        super().before_fit()
        if self.learn.in_fit:
            self._saved_best = False
            if self.reset_on_fit:
                self.best_epoch = None

    def after_epoch(self) -> None:
        if self.every_epoch:
            if self.learn.in_fit and self.learn.epoch % int(self.every_epoch) == 0:
                self._save(f"{self.fname}_{self.learn.epoch}")
            return
        super().after_epoch()
        if self.learn.in_fit and self.new_best:
            epoch = self.learn.epoch
            self.learn.logger(f"Better model found at epoch {epoch} with {self.monitor} value: {self.best}.")
            self.best_epoch = epoch
            self._save(self.fname)
            self._saved_best = True

    def after_fit(self) -> None:
        if not self.learn.in_fit:
            return
        if self.at_end:
            self._save(self.fname)
        elif not self.every_epoch and self._saved_best:
            self.learn.load(self.fname, with_opt=self.with_opt)


class ReduceLROnPlateau(TrackerCallback):
    """Divide the learning rate of every parameter group by `factor` (not below `min_lr`) when `monitor`
    has not improved (by more than `min_delta`) for `patience` epochs. Meant for `fit` at a fixed lr
    (a `ParamScheduler` would overwrite the change at the next batch)."""

    def __init__(
        self,
        monitor: str = "valid_loss",
        comp: Callable[[Any, Any], Any] | None = None,
        min_delta: float = 0.0,
        patience: int = 1,
        factor: float = 10.0,
        min_lr: float = 0.0,
        reset_on_fit: bool = True,
    ) -> None:
        super().__init__(monitor=monitor, comp=comp, min_delta=min_delta, reset_on_fit=reset_on_fit)
        if not factor > 1:
            raise ValueError(f"ReduceLROnPlateau: factor must be greater than 1, got {factor!r}")
        self.patience, self.factor, self.min_lr = patience, float(factor), float(min_lr)
        self.wait = 0

    def before_fit(self) -> None:
        super().before_fit()
        if self.learn.in_fit:
            self.wait = 0

    def after_epoch(self) -> None:
        super().after_epoch()
        if not self.learn.in_fit:
            return
        self.wait = 0 if self.new_best else self.wait + 1
        if self.wait < self.patience:
            return
        self.wait = 0
        opt = self.learn.opt
        old = [float(h["lr"]) for h in opt.hypers]
        new = [max(lr / self.factor, self.min_lr) for lr in old]
        if new != old:
            opt.set_hyper("lr", new)
            self.learn.logger(f"Epoch {self.learn.epoch}: reducing lr to {new[-1]:g}")
