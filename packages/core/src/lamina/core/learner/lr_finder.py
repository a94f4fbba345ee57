"""The learning-rate finder: `LRFinder` (an exponential lr sweep that stops when the loss diverges) and
`Learner.lr_find` (through `LRFinderMixin`), which restores the weights afterwards and suggests lrs."""

from __future__ import annotations

import functools
import math
import tempfile
from collections import namedtuple
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from lamina.core.learner.annealing import SchedExp
from lamina.core.learner.callback import CancelFitException, CancelValidException
from lamina.core.learner.scheduler import ParamScheduler
from lamina.core.learner.suggest import valley

if TYPE_CHECKING:
    from lamina.core.learner.learner import Learner

__all__ = ["LRFinder", "LRFinderMixin"]


class LRFinder(ParamScheduler):
    """Raises the lr geometrically from `start_lr` to `end_lr` over `num_it` training batches (lists:
    one value per parameter group), skipping validation. Stops after `num_it` batches, or as soon
    as the smoothed loss exceeds 4 times its minimum or is not finite (when `stop_div`). The model
    and optimizer states are saved to a temporary file at the start and restored at the end."""

    def __init__(
        self,
        start_lr: float | Sequence[float] = 1e-7,
        end_lr: float | Sequence[float] = 10,
        num_it: int = 100,
        stop_div: bool = True,
    ) -> None:
        if isinstance(num_it, bool) or not isinstance(num_it, int) or num_it < 6:
            raise ValueError(f"LRFinder: num_it must be an integer of at least 6, got {num_it!r}")
        if isinstance(start_lr, (list, tuple)) or isinstance(end_lr, (list, tuple)):
            starts = list(start_lr) if isinstance(start_lr, (list, tuple)) else None
            ends = list(end_lr) if isinstance(end_lr, (list, tuple)) else None
            n = len(starts if starts is not None else ends)
            starts = starts or [start_lr] * n
            ends = ends or [end_lr] * n
            if len(starts) != len(ends):
                raise ValueError(f"LRFinder: {len(starts)} start lrs for {len(ends)} end lrs")
            sched: Any = [SchedExp(s, e) for s, e in zip(starts, ends)]
        else:
            sched = SchedExp(start_lr, end_lr)
        super().__init__({"lr": sched})
        self.num_it, self.stop_div = num_it, stop_div
        self.best_loss = math.inf
        self._tmp: tempfile.TemporaryDirectory | None = None

    def before_fit(self) -> None:
        super().before_fit()
        if "recorder" not in self.learn.callbacks:
            raise RuntimeError(
                "LRFinder needs the Recorder (for the smoothed loss); create the Learner with it"
            )
        self.best_loss = math.inf
        self._tmp = tempfile.TemporaryDirectory(prefix="lamina_lr_find_")
        torch.save(
            {"model": self.learn.model.state_dict(), "opt": self.learn.opt.state_dict()},
            Path(self._tmp.name) / "state.pth",
        )

    def before_batch(self) -> None:
        self.set_position(self.learn.train_iter / self.num_it)

    def after_batch(self) -> None:
        learn = self.learn
        if learn.smooth_loss is None:
            return
        loss = float(learn.smooth_loss)  # one host read per batch: the stop test needs it
        if loss < self.best_loss:
            self.best_loss = loss
        if self.stop_div and (not math.isfinite(loss) or loss > 4 * self.best_loss):
            raise CancelFitException()
        if learn.train_iter >= self.num_it:
            raise CancelFitException()

    def before_validate(self) -> None:
        raise CancelValidException()

    def after_fit(self) -> None:
        self.restore()

    def restore(self, learn: Learner | None = None) -> None:
        """Put back the model and optimizer states saved at the start into `learn` (default: the
        attached learner); only once, later calls do nothing."""
        if self._tmp is None:
            return
        learn = self.learn if learn is None else learn
        try:
            learn.opt.zero_grad()
            device = next(iter(learn.model.parameters()), torch.empty(0)).device
            state = torch.load(Path(self._tmp.name) / "state.pth", map_location=device, weights_only=True)
            learn.model.load_state_dict(state["model"])
            learn.opt.load_state_dict(state["opt"])
        finally:
            self._tmp.cleanup()
            self._tmp = None


def _func_name(f: Callable) -> str:
    while isinstance(f, functools.partial):
        f = f.func
    return getattr(f, "__name__", type(f).__name__)


class LRFinderMixin:
    """`Learner.lr_find`."""

    def lr_find(
        self: Learner,
        start_lr: float | Sequence[float] = 1e-7,
        end_lr: float | Sequence[float] = 10,
        num_it: int = 100,
        stop_div: bool = True,
        show_plot: bool = True,
        suggest_funcs: Callable | Sequence[Callable] | None = (valley,),
    ) -> Any:
        """Train `num_it` batches with the lr rising exponentially from `start_lr` to `end_lr` (stopping
        early when the loss diverges), then restore the model and optimizer. Returns a namedtuple
        `SuggestedLRs` with one field per function of `suggest_funcs` (e.g. `.valley`), computed on
        the recorded smoothed loss; with `show_plot`, plots loss against lr with the suggestions
        (`recorder.plot_lr_find`)."""
        n_epoch = num_it // len(self.dls.train) + 1
        had_opt = self.opt is not None
        finder = LRFinder(start_lr=start_lr, end_lr=end_lr, num_it=num_it, stop_div=stop_div)
        try:
            with self.no_logging():
                self.fit(n_epoch, cbs=finder)
        finally:
            if self.opt is not None:
                finder.restore(self)
            if not had_opt:
                self.opt = None
        recorder = self.recorder
        funcs = (
            []
            if suggest_funcs is None
            else (list(suggest_funcs) if isinstance(suggest_funcs, (list, tuple)) else [suggest_funcs])
        )
        if not funcs:
            if show_plot:
                recorder.plot_lr_find()
            return None
        lrs, losses = recorder.lrs[num_it // 10 : -5], recorder.losses[num_it // 10 : -5]
        finite = next((i for i, v in enumerate(losses) if not math.isfinite(v)), len(losses))
        lrs, losses = lrs[:finite], losses[:finite]
        if len(lrs) < 2:
            raise ValueError(
                f"lr_find: only {len(recorder.lrs)} batches ran before the loss diverged, too few to "
                "suggest an lr; lower end_lr or start_lr, or raise num_it"
            )
        names = [_func_name(f) for f in funcs]
        results = [f(lrs, losses, num_it) for f in funcs]
        suggested = namedtuple("SuggestedLRs", names, rename=True)
        if show_plot:
            recorder.plot_lr_find(suggestions=[point for _, point in results], nms=names)
        return suggested(*[lr for lr, _ in results])
