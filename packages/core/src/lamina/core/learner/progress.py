"""`ProgressCallback`: a live bar per training/validation phase and a results table, one row per epoch."""

from __future__ import annotations

import sys
import time
from typing import Any

from lamina.core.learner.callback import Callback

__all__ = ["ProgressCallback", "is_interactive"]


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if callable(get_ipython) else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def is_interactive() -> bool:
    """True in a Jupyter notebook or when stdout is a terminal (where live bars make sense)."""
    if _in_notebook():
        return True
    isatty = getattr(sys.stdout, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


def _len_or_none(dl: Any) -> int | None:
    try:
        return len(dl)
    except TypeError:
        return None


class ProgressCallback(Callback):
    """Shows training progress; attached by default, reachable as `learn.progress`.

    - A `tqdm.auto` bar per training and validation phase (HTML in notebooks), with the smoothed
      loss refreshed at most every `refresh_every` seconds (the only moment it reads the loss on
      the host). Bars show when `show_bar` is True, or, when it is None (default), in notebooks and
      when stdout is a terminal; elsewhere (logs, CI, pytest) there are none.
    - A results table: a header line at the start of a fit, then one line per epoch (the columns
      of `learn.recorder.metric_names`), each passed to `learn.logger` (default `print`) when
      `show_table` is True. `learn.no_logging()` silences it, `learn.no_bar()` hides the bars.
    """

    order = 60

    def __init__(
        self, show_bar: bool | None = None, show_table: bool = True, refresh_every: float = 0.5
    ) -> None:
        self.show_bar, self.show_table, self.refresh_every = show_bar, show_table, refresh_every
        self._bar: Any = None
        self._bars_on = False
        self._widths: list[int] = []
        self._last_refresh = 0.0

    def before_fit(self) -> None:
        self._bars_on = is_interactive() if self.show_bar is None else bool(self.show_bar)
        recorder = self._recorder()
        if not self.learn.in_fit or not self.show_table or recorder is None:
            return
        names = recorder.metric_names
        self._widths = [max(len(n), 10) for n in names]
        self.learn.logger(self._line(names))

    def before_train(self) -> None:
        self._open("train")

    def before_validate(self) -> None:
        self._open("valid")

    def after_batch(self) -> None:
        bar = self._bar
        if bar is None:
            return
        bar.update(1)
        if not self.learn.training:
            return
        now = time.monotonic()
        if now - self._last_refresh >= self.refresh_every:
            self._last_refresh = now
            loss = self.learn.smooth_loss
            if loss is not None:
                bar.set_postfix_str(f"loss {float(loss):.4f}", refresh=False)

    def after_train(self) -> None:
        self._close()

    def after_validate(self) -> None:
        self._close()

    def after_epoch(self) -> None:
        recorder = self._recorder()
        if self.learn.in_fit and self.show_table and recorder is not None:
            self.learn.logger(self._line(recorder.log))

    def after_fit(self) -> None:
        self._close()

    # --- helpers --------------------------------------------------------------------------------
    def _recorder(self) -> Any:
        return self.learn.callbacks.get("recorder")

    def _line(self, values: list[Any]) -> str:
        widths = self._widths + [10] * (len(values) - len(self._widths))
        return "  ".join(f"{_fmt(v):<{w}}" for v, w in zip(values, widths)).rstrip()

    def _open(self, phase: str) -> None:
        self._close()
        if not self._bars_on:
            return
        from tqdm.auto import tqdm

        learn = self.learn
        desc = f"epoch {learn.epoch + 1}/{learn.n_epoch} {phase}" if learn.in_fit else phase
        self._bar = tqdm(
            total=_len_or_none(learn.dl), desc=desc, leave=False, file=sys.stdout, dynamic_ncols=True
        )
        self._last_refresh = time.monotonic()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
