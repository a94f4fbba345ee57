"""TerminateOnNaN, EarlyStoppingCallback, SaveModelCallback, ReduceLROnPlateau."""

import pytest
import torch

from lamina.core.callbacks.trackers import (
    EarlyStoppingCallback,
    ReduceLROnPlateau,
    SaveModelCallback,
    TerminateOnNaN,
)
from lamina.core.learner.callback import Callback
from lamina.core.learner.synth import synth_learner
from lamina.core.optim.optimizers import SGD


class Scripted(Callback):
    """Overwrites this epoch's value of `column` in the Recorder (after it, before the trackers)."""

    order = 55

    def __init__(self, column, values):
        self.column, self.script = column, list(values)

    def after_epoch(self):
        if self.in_fit:
            rec = self.recorder
            i = rec.metric_names[1:-1].index(self.column)
            rec.values[-1][i] = self.script[self.epoch]


class Snapshots(Callback):
    """The model's weights at the end of each epoch."""

    order = 70

    def __init__(self):
        self.weights = []

    def after_epoch(self):
        if self.in_fit:
            self.weights.append({k: v.clone() for k, v in self.model.state_dict().items()})


def learner(*cbs, **kwargs):
    logs = []
    learn = synth_learner(cbs=list(cbs), **kwargs)
    learn.logger = logs.append
    return learn, logs


class NaNAt(Callback):
    order = 0

    def __init__(self, epoch, it):
        self.at = (epoch, it)
        self.batches = 0

    def after_loss(self):
        if self.training:
            self.batches += 1
            if (self.epoch, self.iter) == self.at:
                self.learn.loss = self.loss * float("nan")


# --- TerminateOnNaN -------------------------------------------------------------------------------
def test_terminate_on_nan_stops_the_fit_and_says_so():
    nan = NaNAt(1, 3)
    learn, _ = learner(TerminateOnNaN(), nan)
    with pytest.warns(RuntimeWarning, match=r"NaN or infinite \(seen at epoch 1, batch 3\)"):
        learn.fit(4)
    assert learn.terminate_on_nan.stopped_at == (1, 3)
    assert nan.batches == 10 + 4  # 10 batches per epoch; stopped right after the bad one
    assert len(learn.recorder.values) == 1  # the bad epoch never finished


def test_terminate_on_nan_with_check_every_stops_at_the_next_check():
    nan = NaNAt(0, 4)
    learn, _ = learner(TerminateOnNaN(check_every=3), nan)
    with pytest.warns(RuntimeWarning):
        learn.fit(2)
    assert learn.terminate_on_nan.stopped_at == (0, 5)  # checks after batches 2, 5, 8


def test_terminate_on_nan_catches_a_bad_last_batch_at_the_end_of_the_phase():
    nan = NaNAt(0, 9)
    learn, _ = learner(TerminateOnNaN(check_every=4), nan)
    with pytest.warns(RuntimeWarning):
        learn.fit(2)
    assert learn.terminate_on_nan.stopped_at == (0, 9)
    assert learn.recorder.values == []  # stopped before validation


def test_terminate_on_nan_leaves_a_healthy_fit_alone():
    learn, _ = learner(TerminateOnNaN())
    learn.fit(2)
    assert learn.terminate_on_nan.stopped_at is None and len(learn.recorder.values) == 2


# --- EarlyStoppingCallback ------------------------------------------------------------------------
def test_early_stopping_after_patience_epochs_without_improvement():
    learn, logs = learner(
        Scripted("valid_loss", [1.0, 0.8, 0.9, 0.85, 0.7, 0.6]), EarlyStoppingCallback(patience=2)
    )
    learn.fit(6)
    assert len(learn.recorder.values) == 4  # epochs 0-3: no improvement in 2 and 3
    assert learn.early_stopping.best == 0.8 and learn.early_stopping.stopped_epoch == 3
    assert "No improvement since epoch 1: early stopping" in logs


def test_early_stopping_min_delta_and_a_metric_to_maximise():
    # an explicit comparison: here bigger is better
    es = EarlyStoppingCallback(monitor="valid_loss", comp=lambda a, b: a > b, min_delta=0.1, patience=1)
    learn, _ = learner(Scripted("valid_loss", [0.5, 0.55, 0.9, 0.95]), es)
    learn.fit(4)
    assert len(learn.recorder.values) == 2  # 0.55 is not 0.1 better than 0.5


def test_early_stopping_on_a_metric_name_defaults_to_greater_is_better():
    def accuracy_like(pred, targ):
        return (pred - targ).abs().mean()

    es = EarlyStoppingCallback(monitor="accuracy_like", patience=1)
    learn, _ = learner(Scripted("accuracy_like", [0.5, 0.6, 0.55, 0.9]), es, metrics=accuracy_like)
    learn.fit(4)
    assert len(learn.recorder.values) == 3 and es.best == 0.6


def test_tracker_names_the_columns_when_monitor_is_unknown():
    learn, _ = learner(EarlyStoppingCallback(monitor="accuracy"))
    with pytest.raises(ValueError, match=r"monitor 'accuracy' is not a column.*train_loss.*valid_loss"):
        learn.fit(1)


def test_trackers_ignore_validate_and_get_preds():
    es = EarlyStoppingCallback(patience=1)
    learn, _ = learner(Scripted("valid_loss", [1.0, 0.5]), es)
    learn.fit(2)
    best = es.best
    learn.validate()
    learn.get_preds()
    assert es.best == best


def test_reset_on_fit_false_keeps_the_best_across_fits():
    es = EarlyStoppingCallback(patience=1, reset_on_fit=False)
    learn, _ = learner(Scripted("valid_loss", [0.5, 0.4, 0.3]), es)
    learn.fit(2)
    assert es.best == 0.4
    learn.remove_cb(Scripted).add_cb(Scripted("valid_loss", [0.45, 0.3]))
    learn.fit(2)  # 0.45 is worse than the 0.4 kept from the first fit: stop at once
    assert len(learn.recorder.values) == 1


# --- SaveModelCallback ----------------------------------------------------------------------------
def test_save_model_keeps_and_restores_the_best_weights(tmp_path):
    snaps = Snapshots()
    learn, logs = learner(
        Scripted("valid_loss", [1.0, 0.2, 0.5, 0.6]), SaveModelCallback(fname="best"), snaps, path=tmp_path
    )
    learn.fit(4)
    assert (tmp_path / "models" / "best.pth").exists()
    assert learn.save_model.best_epoch == 1
    final = learn.model.state_dict()
    assert all(torch.equal(final[k], snaps.weights[1][k]) for k in final)
    assert not torch.equal(final["a"], snaps.weights[3]["a"])
    assert "Better model found at epoch 1 with valid_loss value: 0.2." in logs


def test_save_model_every_epoch_and_at_end(tmp_path):
    learn, _ = learner(SaveModelCallback(every_epoch=True, fname="ep"), path=tmp_path)
    learn.fit(3)
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["ep_0.pth", "ep_1.pth", "ep_2.pth"]
    learn, _ = learner(SaveModelCallback(every_epoch=2, fname="ep"), path=tmp_path / "two")
    learn.fit(3)
    assert sorted(p.name for p in (tmp_path / "two" / "models").iterdir()) == ["ep_0.pth", "ep_2.pth"]
    snaps = Snapshots()
    learn, _ = learner(
        Scripted("valid_loss", [0.1, 0.5, 0.6]), SaveModelCallback(at_end=True), snaps, path=tmp_path / "end"
    )
    learn.fit(3)
    saved = torch.load(tmp_path / "end" / "models" / "model.pth", weights_only=True)["model"]
    assert torch.equal(saved["a"], snaps.weights[-1]["a"]) and torch.equal(
        learn.model.a, snaps.weights[-1]["a"]
    )


def test_save_model_with_opt_restores_the_optimizer_state_too(tmp_path):
    learn, _ = learner(Scripted("valid_loss", [0.1, 0.5]), SaveModelCallback(with_opt=True), path=tmp_path)
    learn.fit(2)
    state = torch.load(tmp_path / "models" / "model.pth", weights_only=True)
    assert "opt" in state


def test_save_model_restores_after_early_stopping(tmp_path):
    snaps = Snapshots()
    learn, _ = learner(
        Scripted("valid_loss", [0.9, 0.3, 0.5, 0.6, 0.1]),
        SaveModelCallback(),
        EarlyStoppingCallback(patience=2),
        snaps,
        path=tmp_path,
    )
    learn.fit(5)
    assert len(learn.recorder.values) == 4  # stopped at the end of epoch 3
    assert torch.equal(learn.model.a, snaps.weights[1]["a"])


# --- ReduceLROnPlateau ----------------------------------------------------------------------------
def test_reduce_lr_on_plateau_divides_the_lr_after_patience_epochs():
    lrs = []

    class LrLog(Callback):
        order = 70

        def after_epoch(self):
            lrs.append(self.opt.hypers[-1]["lr"])

    learn, logs = learner(
        Scripted("valid_loss", [1.0, 1.1, 1.2, 0.5, 0.6, 0.7]),
        ReduceLROnPlateau(patience=2, factor=10.0, min_lr=5e-5),
        LrLog(),
        opt_func=SGD,
        lr=1e-2,
    )
    learn.fit(6)
    assert lrs == pytest.approx([1e-2, 1e-2, 1e-3, 1e-3, 1e-3, 1e-4])
    assert "Epoch 2: reducing lr to 0.001" in logs
    learn, _ = learner(
        Scripted("valid_loss", [1.0, 1.1, 1.2, 1.3]),
        ReduceLROnPlateau(patience=1, min_lr=5e-4),
        opt_func=SGD,
        lr=1e-2,
    )
    learn.fit(4)
    assert learn.opt.hypers[-1]["lr"] == pytest.approx(5e-4)


def test_reduce_lr_on_plateau_bad_factor():
    with pytest.raises(ValueError, match="factor"):
        ReduceLROnPlateau(factor=0.5)
