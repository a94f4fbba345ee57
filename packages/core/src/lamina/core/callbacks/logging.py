"""Callbacks that keep or show the training history: `CSVLogger` (one CSV row per epoch) and
`ShowGraph` (a live loss plot in notebooks)."""

from __future__ import annotations

import csv
import sys
import warnings
from pathlib import Path
from typing import Any

from lamina.core.learner.callback import Callback

__all__ = ["CSVLogger", "ShowGraph", "in_notebook"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where live plots can be displayed and updated)."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if callable(get_ipython) else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def _cell(value: Any) -> Any:
    return "" if value is None else value


class CSVLogger(Callback):
    """Write the `Recorder`'s table to `learn.path / fname`: the header at the start of each fit, then one
    row per epoch as it ends (the file is opened and closed for each row, so it is complete even if
    the fit stops on an error). `append=True` adds to an existing file (no second header).
    `read_log()` returns the file as a pandas DataFrame."""

    order = 60

    def __init__(self, fname: str | Path = "history.csv", append: bool = False) -> None:
        self.fname, self.append = Path(fname), append

    @property
    def csv_path(self) -> Path:
        """Where the rows go: `learn.path / fname` (`fname` itself when absolute)."""
        return self.learn.path / self.fname

    def _recorder(self) -> Any:
        recorder = self.learn.callbacks.get("recorder")
        if recorder is None:
            raise ValueError("CSVLogger writes the Recorder's rows, and no Recorder is attached")
        return recorder

    def before_fit(self) -> None:
        if not self.learn.in_fit:
            return
        names = self._recorder().metric_names
        path = self.csv_path
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.append and path.exists() and path.stat().st_size > 0:
            return
        with open(path, "w", newline="") as f:
            csv.writer(f).writerow(names)

    def after_epoch(self) -> None:
        if not self.learn.in_fit:
            return
        with open(self.csv_path, "a", newline="") as f:
            csv.writer(f).writerow([_cell(v) for v in self._recorder().log])

    def read_log(self) -> Any:
        """The CSV file as a `pandas.DataFrame`."""
        import pandas as pd

        return pd.read_csv(self.csv_path)


class ShowGraph(Callback):
    """Plot the training loss (per batch) and the validation loss (per epoch) as the fit goes, updated
    at the end of each epoch, in a notebook. Outside a notebook it shows nothing (a warning at the start
    of the fit says so); `plot()` returns the figure of the last fit anywhere, and `figure` keeps the
    last figure drawn. Not run by `lr_find` (nothing to show) nor by `validate`/`get_preds`."""

    order = 65
    run_valid = False

    def __init__(self) -> None:
        self.figure: Any = None
        self._display: Any = None
        self._live = False

    def before_fit(self) -> None:
        learn = self.learn
        self._live = False
        if not learn.in_fit or "lr_finder" in learn.callbacks:
            return
        if learn.callbacks.get("recorder") is None:
            raise ValueError("ShowGraph plots the Recorder's losses, and no Recorder is attached")
        if not in_notebook():
            warnings.warn(
                "ShowGraph: not running in a notebook, so there is no live plot; call "
                "`learn.show_graph.plot()` after the fit for the figure",
                stacklevel=2,
            )
            return
        self._live = True
        self._display = None

    def after_epoch(self) -> None:
        if not self._live:
            return
        from IPython.display import display

        fig = self.plot()
        if self._display is None:
            self._display = display(fig, display_id=True)
        else:
            self._display.update(fig)
        import matplotlib.pyplot as plt

        plt.close(fig)  # the notebook keeps the rendered image; free the figure

    def plot(self) -> Any:
        """The figure: the smoothed training loss per batch, the validation loss at the end of each epoch,
        the x axis covering the whole fit."""
        try:
            import matplotlib.pyplot as plt
        except ImportError as e:
            raise ImportError("ShowGraph needs matplotlib: `pip install matplotlib`") from e
        recorder = self.learn.recorder
        losses = recorder.losses
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(range(len(losses)), losses, label="train")
        if "valid_loss" in recorder.metric_names:
            pts = [(i, v) for i, v in zip(recorder.iters, recorder.column("valid_loss")) if v is not None]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label="valid")
        ax.set_xlim(0, max(len(losses), self._planned_iters(), 1))
        ax.set_xlabel("iteration")
        ax.set_ylabel("loss")
        ax.legend()
        self.figure = fig
        return fig

    def _planned_iters(self) -> int:
        """Training batches in the whole fit (while it runs), so the x axis does not grow epoch by epoch."""
        if not self.learn.in_fit:
            return 0
        try:
            return self.learn.n_epoch * len(self.learn.dls.train)
        except TypeError:
            return 0
