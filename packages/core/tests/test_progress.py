"""ProgressCallback: the results table, one line per epoch off a terminal, bars when asked, switches."""

import io
import sys

from lamina.core.learner.callback import Callback, CancelValidException
from lamina.core.learner.progress import ProgressCallback, is_interactive
from lamina.core.learner.synth import synth_learner
from lamina.core.metrics import mae


def test_one_line_per_epoch_and_no_bars_off_a_terminal(capsys):
    learn = synth_learner(metrics=mae)
    learn.fit(3)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 4 and "\r" not in out and "it/s" not in out
    assert lines[0].split() == ["epoch", "train_loss", "valid_loss", "mae", "time"]
    for epoch, line in enumerate(lines[1:]):
        cells = line.split()
        assert cells[0] == str(epoch) and len(cells) == 5
        assert all(len(c.split(".")[1]) == 6 for c in cells[1:4])  # floats with 6 decimals
        assert cells[4].count(":") == 1
    header, first = lines[0], lines[1]
    assert header.index("valid_loss") == first.index(first.split()[2])  # columns line up


def test_logger_gets_the_lines_and_no_logging_silences_them(capsys):
    got = []
    learn = synth_learner()
    learn.logger = got.append
    learn.fit(2)
    assert len(got) == 3 and got[0].startswith("epoch")
    with learn.no_logging():
        learn.fit(1)
    assert len(got) == 3 and learn.logger == got.append
    with learn.quiet():
        learn.fit(1)
    assert capsys.readouterr().out == ""


def test_cancelled_validation_leaves_empty_cells():
    class SkipValid(Callback):
        def before_validate(self):
            raise CancelValidException()

    got = []
    learn = synth_learner(metrics=mae, cbs=SkipValid())
    learn.logger = got.append
    learn.fit(1)
    cells = got[1].split()
    assert len(cells) == 3  # epoch, train_loss, time: the empty valid_loss and mae cells collapse
    assert learn.recorder.values[0][1:] == [None, None]


def test_bars_when_asked_and_no_bar_hides_them(capsys):
    learn = synth_learner()
    learn.progress.show_bar = True
    learn.fit(2)
    out = capsys.readouterr().out
    assert "epoch 1/2 train" in out and "epoch 2/2 valid" in out
    with learn.no_bar():
        assert learn.progress.show_bar is False
        learn.fit(1)
    assert learn.progress.show_bar is True
    out = capsys.readouterr().out
    assert "train" in out.splitlines()[0] and "epoch 1/1" not in out


def test_bars_follow_the_terminal(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert not is_interactive()  # pytest captures stdout
    monkeypatch.setattr("sys.stdout", Tty())
    assert is_interactive()
    learn = synth_learner()
    learn.fit(1)
    assert "epoch 1/1 train" in sys.stdout.getvalue()


def test_without_recorder_there_is_no_table(capsys):
    learn = synth_learner(default_cbs=False, cbs=ProgressCallback())
    learn.fit(1)
    assert capsys.readouterr().out == ""
