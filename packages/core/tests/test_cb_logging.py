"""CSVLogger (a row per epoch, append, complete after a failure) and ShowGraph (live in notebooks, a
note elsewhere, a figure from plot())."""

import csv
import sys
import types

import pytest

from lamina.core.callbacks import logging as logging_module
from lamina.core.callbacks.logging import CSVLogger, ShowGraph
from lamina.core.learner.callback import Callback
from lamina.core.learner.synth import synth_learner


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def quiet_learner(tmp_path, *cbs, **kwargs):
    learn = synth_learner(cbs=list(cbs), path=tmp_path, **kwargs)
    learn.logger = lambda *_: None
    return learn


def test_csv_logger_writes_the_header_and_one_row_per_epoch(tmp_path):
    learn = quiet_learner(tmp_path, CSVLogger())
    learn.fit(3)
    rows = read_rows(tmp_path / "history.csv")
    assert rows[0] == ["epoch", "train_loss", "valid_loss", "time"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    for row, values in zip(rows[1:], learn.recorder.values):
        assert [float(v) for v in row[1:3]] == pytest.approx(values)
        assert row[3].count(":") == 1  # mm:ss
    df = learn.csv_logger.read_log()
    assert list(df.columns) == rows[0] and len(df) == 3


def test_csv_logger_append_or_overwrite(tmp_path):
    learn = quiet_learner(tmp_path, CSVLogger("log.csv", append=True))
    learn.fit(2)
    learn.fit(1)
    rows = read_rows(tmp_path / "log.csv")
    assert len(rows) == 1 + 3 and rows.count(rows[0]) == 1  # one header, then every epoch of both fits
    learn = quiet_learner(tmp_path, CSVLogger("log.csv"))
    learn.fit(1)
    assert len(read_rows(tmp_path / "log.csv")) == 2


def test_csv_logger_file_is_complete_when_the_fit_fails(tmp_path):
    class Fail(Callback):
        def before_epoch(self):
            if self.epoch == 2:
                raise RuntimeError("stop here")

    learn = quiet_learner(tmp_path, CSVLogger(), Fail())
    with pytest.raises(RuntimeError, match="stop here"):
        learn.fit(4)
    rows = read_rows(tmp_path / "history.csv")
    assert [r[0] for r in rows[1:]] == ["0", "1"]


def test_csv_logger_writes_metrics_columns_and_absolute_paths(tmp_path):
    def mae(pred, targ):
        return (pred - targ).abs().mean()

    target = tmp_path / "elsewhere" / "h.csv"
    learn = quiet_learner(tmp_path / "learn", CSVLogger(target), metrics=mae)
    learn.fit(1)
    assert read_rows(target)[0] == ["epoch", "train_loss", "valid_loss", "mae", "time"]


def test_csv_logger_leaves_validate_out(tmp_path):
    learn = quiet_learner(tmp_path, CSVLogger())
    learn.fit(1)
    learn.validate()
    assert len(read_rows(tmp_path / "history.csv")) == 2


def test_show_graph_outside_a_notebook_says_so_and_still_plots(tmp_path):
    learn = quiet_learner(tmp_path, ShowGraph())
    with pytest.warns(UserWarning, match="not running in a notebook"):
        learn.fit(2)
    fig = learn.show_graph.plot()
    ax = fig.axes[0]
    train, valid = ax.lines
    assert list(train.get_ydata()) == pytest.approx(learn.recorder.losses)
    assert list(valid.get_xdata()) == learn.recorder.iters
    assert list(valid.get_ydata()) == pytest.approx(learn.recorder.column("valid_loss"))


class FakeHandle:
    def __init__(self):
        self.updates = []

    def update(self, fig):
        self.updates.append(fig)


def test_show_graph_in_a_notebook_displays_then_updates_one_figure(tmp_path, monkeypatch):
    shown, handle = [], FakeHandle()
    display_module = types.ModuleType("IPython.display")
    display_module.display = lambda fig, display_id=None: (shown.append((fig, display_id)), handle)[1]
    monkeypatch.setitem(sys.modules, "IPython.display", display_module)
    monkeypatch.setattr(logging_module, "in_notebook", lambda: True)
    learn = quiet_learner(tmp_path, ShowGraph())
    learn.fit(3)
    assert len(shown) == 1 and shown[0][1] is True
    assert len(handle.updates) == 2
    fig = handle.updates[-1]
    assert len(fig.axes[0].lines[0].get_ydata()) == 30  # every training batch of the three epochs
    assert fig.axes[0].get_xlim()[1] == 30


def test_show_graph_is_quiet_during_lr_find(tmp_path, recwarn):
    learn = quiet_learner(tmp_path, ShowGraph())
    learn.lr_find(num_it=8, show_plot=False)
    assert not [w for w in recwarn if "ShowGraph" in str(w.message)]
