"""ParamScheduler and the fit policies: the recorded hyper-parameters follow the annealing functions."""

import pytest
import torch.nn.functional as F
from torch import nn

from lamina.core.learner.annealing import SchedCos, SchedLin, combine_scheds, combined_cos
from lamina.core.learner.callback import Callback
from lamina.core.learner.learner import Learner
from lamina.core.learner.scheduler import ParamScheduler
from lamina.core.learner.synth import synth_dls, synth_learner
from lamina.core.optim.optimizer import Optimizer
from lamina.core.optim.steppers import sgd_step

N_ITER = 10  # synth_learner: 160 items, batches of 16


def quiet(learn):
    learn.logger = lambda *a: None
    return learn


def positions(n_epoch):
    total = n_epoch * N_ITER
    return [i / total for i in range(total)]


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(1, 8), nn.BatchNorm1d(8), nn.ReLU())
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        return self.head(self.body(x))


def two_groups(model):
    return [list(model.body.parameters()), list(model.head.parameters())]


class GroupLrs(Callback):
    """The lr of every parameter group at each training batch (after the scheduler set it)."""

    order = 100

    def __init__(self):
        self.lrs = []

    def before_batch(self):
        if self.training:
            self.lrs.append([h["lr"] for h in self.opt.hypers])


def test_fit_one_cycle_lr_and_mom_follow_the_schedule():
    learn = quiet(synth_learner())
    learn.fit_one_cycle(3, lr_max=1e-2)
    lr = combined_cos(0.25, 1e-2 / 25, 1e-2, 1e-2 / 1e5)
    mom = combined_cos(0.25, 0.95, 0.85, 0.95)
    assert learn.recorder.lrs == pytest.approx([lr(p) for p in positions(3)], rel=1e-9)
    assert learn.recorder.hps["mom"] == pytest.approx([mom(p) for p in positions(3)], rel=1e-9)
    assert max(learn.recorder.lrs) == pytest.approx(1e-2, rel=2e-3)


def test_fit_one_cycle_options():
    learn = quiet(synth_learner(lr=3e-3, moms=(0.9, 0.8, 0.9)))
    learn.fit_one_cycle(2, div=10, div_final=100, pct_start=0.5)
    lr = combined_cos(0.5, 3e-4, 3e-3, 3e-5)
    mom = combined_cos(0.5, 0.9, 0.8, 0.9)
    assert learn.recorder.lrs == pytest.approx([lr(p) for p in positions(2)], rel=1e-9)
    assert learn.recorder.hps["mom"] == pytest.approx([mom(p) for p in positions(2)], rel=1e-9)
    learn.fit_one_cycle(1, 1e-2, moms=(0.99, 0.9, 0.99))
    assert learn.recorder.hps["mom"][0] == pytest.approx(0.99)


def test_fit_one_cycle_with_discriminative_lrs_schedules_each_group():
    spy = GroupLrs()
    learn = quiet(Learner(synth_dls(), TwoLayer(), F.mse_loss, splitter=two_groups, cbs=spy))
    learn.fit_one_cycle(2, slice(1e-4, 1e-2))
    for g, top in enumerate([1e-4, 1e-2]):
        sched = combined_cos(0.25, top / 25, top, top / 1e5)
        assert [lrs[g] for lrs in spy.lrs] == pytest.approx([sched(p) for p in positions(2)], rel=1e-9)


def test_one_cycle_without_a_momentum_hyper_schedules_lr_only():
    learn = quiet(synth_learner(opt_func=lambda params, lr: Optimizer(params, [sgd_step], lr=lr)))
    learn.fit_one_cycle(1, 1e-2)
    assert "mom" not in learn.recorder.hps
    lr = combined_cos(0.25, 1e-2 / 25, 1e-2, 1e-2 / 1e5)
    assert learn.recorder.lrs == pytest.approx([lr(p) for p in positions(1)], rel=1e-9)


def test_fit_flat_cos():
    learn = quiet(synth_learner())
    learn.fit_flat_cos(4, lr=1e-2)
    lr = combined_cos(0.75, 1e-2, 1e-2, 1e-2 / 1e5)
    assert learn.recorder.lrs == pytest.approx([lr(p) for p in positions(4)], rel=1e-9)
    assert learn.recorder.lrs[: 3 * N_ITER] == pytest.approx([1e-2] * 3 * N_ITER)


def test_fit_sgdr_restarts_each_longer_cycle():
    learn = quiet(synth_learner())
    learn.fit_sgdr(n_cycles=2, cycle_len=1, lr_max=1e-2, cycle_mult=2)
    assert len(learn.recorder.values) == 3  # 1 + 2 epochs
    lr = combine_scheds([1 / 3, 2 / 3], [SchedCos(1e-2, 0.0), SchedCos(1e-2, 0.0)])
    lrs = learn.recorder.lrs
    assert lrs == pytest.approx([lr(p) for p in positions(3)], rel=1e-9, abs=1e-12)
    assert lrs[0] == lrs[N_ITER] == pytest.approx(1e-2)  # the restart
    learn.fit_sgdr(n_cycles=3, cycle_len=1, lr_max=1e-2, cycle_mult=1)
    assert len(learn.recorder.values) == 3
    with pytest.raises(ValueError, match="fit_sgdr"):
        learn.fit_sgdr(0, 1)


def test_fine_tune_trains_the_head_first_then_everything():
    class Watch(Callback):
        def __init__(self):
            self.frozen, self.first_lrs = [], []

        def before_epoch(self):
            self.frozen.append(not self.model.body[0].weight.requires_grad)

        def before_step(self):
            if self.iter == 0:
                self.first_lrs.append([h["lr"] for h in self.opt.hypers])

    watch = Watch()
    learn = quiet(Learner(synth_dls(), TwoLayer(), F.mse_loss, splitter=two_groups, cbs=watch))
    learn.fine_tune(2, base_lr=2e-3, freeze_epochs=1)
    assert watch.frozen == [True, False, False]
    phase1, phase2 = watch.first_lrs[0], watch.first_lrs[1]
    assert phase1 == pytest.approx([2e-4 / 25, 2e-3 / 25])  # slice(base_lr), div 25 at the start
    assert phase2 == pytest.approx([1e-5 / 5, 1e-3 / 5])  # slice(base_lr/2/100, base_lr/2), div 5
    assert len(learn.recorder.values) == 2


def test_param_scheduler_on_any_hyper_and_per_group():
    spy = GroupLrs()
    learn = quiet(Learner(synth_dls(), TwoLayer(), F.mse_loss, splitter=two_groups, cbs=spy))
    wd = SchedLin(0.0, 0.1)
    scheds = {"wd": wd, "lr": [SchedLin(1e-4, 1e-3), SchedLin(1e-3, 1e-2)]}
    learn.fit(2, cbs=ParamScheduler(scheds))
    assert learn.recorder.hps["wd"] == pytest.approx([wd(p) for p in positions(2)], abs=1e-12)
    assert [lrs[0] for lrs in spy.lrs] == pytest.approx([SchedLin(1e-4, 1e-3)(p) for p in positions(2)])
    assert [lrs[1] for lrs in spy.lrs] == pytest.approx([SchedLin(1e-3, 1e-2)(p) for p in positions(2)])


def test_param_scheduler_skips_validation():
    class SetDuringValidation(Callback):
        order = 100

        def before_validate(self):
            self.lr_before = self.opt.hypers[0]["lr"]

        def after_validate(self):
            assert self.opt.hypers[0]["lr"] == self.lr_before

    learn = quiet(synth_learner(cbs=SetDuringValidation()))
    learn.fit(1, cbs=ParamScheduler({"lr": SchedLin(1e-3, 1e-2)}))


def test_param_scheduler_errors():
    learn = quiet(synth_learner())
    with pytest.raises(KeyError, match="no hyper-parameter \\['momentum'\\]"):
        learn.fit(1, cbs=ParamScheduler({"momentum": SchedLin(0.9, 0.8)}))
    with pytest.raises(TypeError, match="'lr' must be a function"):
        ParamScheduler({"lr": 0.1})
    with pytest.raises(TypeError, match="non-empty dict"):
        ParamScheduler({})
    with pytest.raises(ValueError, match="2 schedules for 'lr' but the optimizer has 1"):
        learn.fit(1, cbs=ParamScheduler({"lr": [SchedLin(0.1, 0.2), SchedLin(0.1, 0.2)]}))
