"""Recorder: smoothed losses, hyper-parameters, per-epoch values, history kept by validate, plots."""

import sys

import matplotlib
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import BatchSampler, RandomSampler, SequentialSampler, TensorDataset
from torch.utils.data import DataLoader as TorchDataLoader

from lamina.core.data.loaders import DataLoaders
from lamina.core.learner.callback import Callback
from lamina.core.learner.learner import Learner
from lamina.core.learner.recorder import Recorder, format_time
from lamina.core.learner.synth import RegModel, synth_learner
from lamina.core.metrics import mae

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def quiet_learner(**kwargs):
    learn = synth_learner(**kwargs)
    learn.logger = lambda *a: None
    return learn


class BatchSpy(Callback):
    """Keeps each training batch's loss and each batch's (pred, target) pair, per phase."""

    def __init__(self):
        self.train_losses, self.pairs = [], {True: [], False: []}

    def after_loss(self):
        if self.training:
            self.train_losses.append(self.loss.item())
        self.pairs[self.training].append((self.pred.detach().clone(), self.yb[0]))


def test_smoothed_loss_is_the_debiased_moving_average():
    spy = BatchSpy()
    learn = quiet_learner(cbs=spy)
    learn.fit(2)
    beta, avg, expected = 0.98, 0.0, []
    for i, loss in enumerate(spy.train_losses, 1):
        avg = beta * avg + (1 - beta) * loss
        expected.append(avg / (1 - beta**i))
    rec = learn.recorder
    assert rec.losses == pytest.approx(expected, rel=1e-6)
    assert [row[0] for row in rec.values] == pytest.approx([expected[9], expected[19]], rel=1e-6)
    assert rec.iters == [10, 20]
    assert learn.smooth_loss.item() == pytest.approx(expected[-1], rel=1e-6)


def test_lrs_and_all_hypers_are_recorded_per_training_batch():
    learn = quiet_learner(lr=0.03)
    learn.fit(2)
    rec = learn.recorder
    assert rec.lrs == [0.03] * 20
    assert set(rec.hps) >= {"lr", "mom", "sqr_mom", "eps", "wd"}
    assert all(len(v) == 20 for v in rec.hps.values())


def test_valid_loss_is_weighted_by_batch_size_and_rows_follow_metric_names():
    spy = BatchSpy()
    learn = quiet_learner(n_valid=40, metrics=mae, cbs=spy)  # valid batches of 16, 16 and 8
    learn.fit(1)
    rec = learn.recorder
    assert rec.metric_names == ["epoch", "train_loss", "valid_loss", "mae", "time"]
    preds = torch.cat([p for p, _ in spy.pairs[False]])
    targs = torch.cat([t for _, t in spy.pairs[False]])
    assert rec.values[0][1] == pytest.approx(F.mse_loss(preds, targs).item(), rel=1e-6)
    assert rec.values[0][2] == pytest.approx((preds - targs).abs().mean().item(), rel=1e-6)
    assert rec.column("mae") == [rec.values[0][2]]
    assert learn.final_record == rec.values[-1]
    assert rec.log[0] == 0 and len(rec.log) == 5 and ":" in rec.log[-1]
    with pytest.raises(KeyError, match="accuracy"):
        rec.column("accuracy")


def test_train_metrics_and_no_valid_metrics():
    spy = BatchSpy()
    learn = quiet_learner(metrics=mae, default_cbs=False, cbs=[spy, Recorder(train_metrics=True)])
    learn.fit(1)
    rec = learn.recorder
    assert rec.metric_names == ["epoch", "train_loss", "train_mae", "valid_loss", "valid_mae", "time"]
    preds = torch.cat([p for p, _ in spy.pairs[True]])
    targs = torch.cat([t for _, t in spy.pairs[True]])
    assert rec.values[0][1] == pytest.approx((preds - targs).abs().mean().item(), rel=1e-6)
    assert len(rec.values[0]) == 4

    learn = quiet_learner(metrics=mae, default_cbs=False, cbs=Recorder(valid_metrics=False, add_time=False))
    learn.fit(2)
    assert learn.recorder.metric_names == ["epoch", "train_loss"]
    assert [len(row) for row in learn.recorder.values] == [1, 1]


def test_validate_and_get_preds_keep_the_history():
    learn = quiet_learner(metrics=mae)
    learn.fit(2)
    rec = learn.recorder
    values, losses, lrs = [list(r) for r in rec.values], list(rec.losses), list(rec.lrs)
    result = learn.validate()
    learn.get_preds()
    assert rec.values == values and rec.losses == losses and rec.lrs == lrs
    assert result == rec.last_valid and len(result) == 2


def test_no_host_read_of_the_loss_during_training_batches(monkeypatch):
    """The Recorder keeps per-batch losses on the device; they reach the host at the epoch's end."""
    reads = []
    window = {"open": False}

    class Open(Callback):
        order = -1000

        def before_batch(self):
            window["open"] = self.training

    class Close(Callback):
        order = 1000

        def after_batch(self):
            window["open"] = False

    def spy(name):
        original = getattr(torch.Tensor, name)

        def wrapper(self, *args, **kwargs):
            if window["open"]:
                reads.append(name)
            return original(self, *args, **kwargs)

        return wrapper

    learn = quiet_learner(cbs=[Open(), Close()])  # default optimizer (Adam)
    for name in ("item", "tolist", "__float__", "__bool__", "numpy", "cpu"):
        monkeypatch.setattr(torch.Tensor, name, spy(name))
    learn.fit(2)
    monkeypatch.undo()
    assert reads == []
    assert len(learn.recorder.losses) == 20


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.filterwarnings("ignore:Synchronization debug mode is a prototype")
def test_no_device_sync_inside_training_batches_on_cuda():
    """torch's sync debug mode turns any synchronizing call inside a training batch into an error."""
    dev = torch.device("cuda")
    x = torch.randn(256, 1, device=dev)
    ds = TensorDataset(x, 2 * x + 3)
    train = TorchDataLoader(ds, batch_size=None, sampler=BatchSampler(RandomSampler(ds), 32, drop_last=True))
    valid = TorchDataLoader(ds, batch_size=None, sampler=BatchSampler(SequentialSampler(ds), 64, False))

    class Strict(Callback):
        order = -1000

        def before_batch(self):
            if self.training:
                torch.cuda.set_sync_debug_mode("error")

    class Relax(Callback):
        order = 1000

        def after_batch(self):
            torch.cuda.set_sync_debug_mode(0)

    learn = Learner(
        DataLoaders(train, valid), RegModel().to(dev), F.mse_loss, metrics=mae, cbs=[Strict(), Relax()]
    )
    learn.logger = lambda *a: None
    try:
        learn.fit(2)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert len(learn.recorder.losses) == 16 and learn.recorder.values[-1][1] is not None


def test_plots_show_the_recorded_values():
    learn = quiet_learner()
    learn.fit_one_cycle(2, 1e-2)
    rec = learn.recorder
    fig = rec.plot_loss(skip_start=3)
    train, valid = fig.axes[0].lines
    assert list(train.get_ydata()) == pytest.approx(rec.losses[3:])
    assert list(valid.get_xdata()) == rec.iters
    assert list(rec.plot_lr().axes[0].lines[0].get_ydata()) == pytest.approx(rec.lrs)
    fig = rec.plot_sched()
    assert [ax.get_ylabel() for ax in fig.axes] == ["lr", "mom"]
    assert list(fig.axes[1].lines[0].get_ydata()) == pytest.approx(rec.hps["mom"])
    with pytest.raises(KeyError, match="nope"):
        rec.plot_sched(keys=["nope"])


def test_missing_matplotlib_is_explained(monkeypatch):
    learn = quiet_learner()
    learn.fit(1)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        learn.recorder.plot_loss()


def test_format_time():
    assert format_time(5.7) == "00:05"
    assert format_time(125) == "02:05"
    assert format_time(3725) == "1:02:05"
