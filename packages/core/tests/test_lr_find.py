"""lr_find: exponential sweep, stop on divergence, weights and optimizer restored, suggestions, plot."""

import math

import matplotlib
import pytest
import torch

from lamina.core.learner.callback import Callback
from lamina.core.learner.lr_finder import LRFinder
from lamina.core.learner.suggest import minimum, steep, valley
from lamina.core.learner.synth import synth_learner
from lamina.core.optim.optimizers import SGD

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def quiet(learn):
    learn.logger = lambda *a: None
    return learn


def snapshot(learn):
    model = {k: v.clone() for k, v in learn.model.state_dict().items()}
    opt = None
    if learn.opt is not None:
        sd = learn.opt.state_dict()
        opt = (
            [{k: v.clone() if torch.is_tensor(v) else v for k, v in s.items()} for s in sd["state"]],
            sd["hypers"],
        )
    return model, opt


def assert_same(a, b):
    (model_a, opt_a), (model_b, opt_b) = a, b
    assert model_a.keys() == model_b.keys()
    assert all(torch.equal(model_a[k], model_b[k]) for k in model_a)
    if opt_a is None:
        assert opt_b is None
        return
    (state_a, hypers_a), (state_b, hypers_b) = opt_a, opt_b
    assert hypers_a == hypers_b
    for sa, sb in zip(state_a, state_b):
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k], sb[k]) if torch.is_tensor(sa[k]) else sa[k] == sb[k]


def test_lr_find_restores_weights_and_optimizer_state():
    learn = quiet(synth_learner(lr=0.05))
    learn.fit(1)
    before = snapshot(learn)
    learn.lr_find(num_it=30, show_plot=False)
    assert_same(before, snapshot(learn))
    assert len(learn.recorder.lrs) > 6  # it did train


def test_lr_find_without_an_optimizer_leaves_none():
    learn = quiet(synth_learner())
    before = snapshot(learn)
    learn.lr_find(num_it=20, show_plot=False)
    assert learn.opt is None
    assert_same(before, snapshot(learn))


def test_sweep_is_exponential_and_skips_validation():
    class CountValid(Callback):
        def __init__(self):
            self.valid_batches = 0

        def after_batch(self):
            self.valid_batches += not self.training

    counter = CountValid()
    learn = quiet(synth_learner(cbs=counter))
    learn.lr_find(start_lr=1e-5, end_lr=1e-1, num_it=25, stop_div=False, suggest_funcs=None, show_plot=False)
    expected = [1e-5 * (1e4) ** (i / 25) for i in range(25)]
    assert learn.recorder.lrs == pytest.approx(expected, rel=1e-9)
    assert counter.valid_batches == 0


def test_lr_find_stops_when_the_loss_diverges():
    learn = quiet(synth_learner(opt_func=SGD))
    before = snapshot(learn)
    learn.lr_find(start_lr=1e-3, end_lr=1e4, num_it=100, suggest_funcs=None, show_plot=False)
    losses = learn.recorder.losses
    assert len(losses) < 100
    last = losses[-1]
    assert not math.isfinite(last) or last > 4 * min(losses)
    assert all(v <= 4 * min(losses[: i + 1]) for i, v in enumerate(losses[:-1]))  # stopped at the first
    assert_same(before, snapshot(learn))


def test_no_stop_div_runs_every_iteration():
    learn = quiet(synth_learner(opt_func=SGD))
    learn.lr_find(start_lr=1e-3, end_lr=1e4, num_it=30, stop_div=False, suggest_funcs=None, show_plot=False)
    assert len(learn.recorder.lrs) == 30


def test_suggestions_come_back_as_a_named_tuple():
    learn = quiet(synth_learner())
    res = learn.lr_find(num_it=60, suggest_funcs=(valley, minimum, steep), show_plot=False)
    assert type(res).__name__ == "SuggestedLRs" and res._fields == ("valley", "minimum", "steep")
    lrs = learn.recorder.lrs
    assert all(min(lrs) / 10 <= v <= max(lrs) for v in res)
    assert res.minimum == pytest.approx(minimum(lrs[6:-5], learn.recorder.losses[6:-5])[0])


def test_plot_marks_the_suggestions_on_a_log_scale():
    learn = quiet(synth_learner())
    res = learn.lr_find(num_it=40, show_plot=True)
    ax = plt.gcf().axes[0]
    assert ax.get_xscale() == "log"
    assert ax.lines[1].get_xdata()[0] == pytest.approx(res.valley)


def test_lr_find_needs_the_recorder_and_enough_iterations():
    learn = quiet(synth_learner(default_cbs=False))
    with pytest.raises(RuntimeError, match="needs the Recorder"):
        learn.lr_find(show_plot=False)
    with pytest.raises(ValueError, match="num_it"):
        LRFinder(num_it=3)
