"""Two-way callbacks: events, cancellation, ordering, aliases, attribute rules, attaching/detaching."""

import pytest
import torch
from torch import nn

from lamina.core.learner.callback import (
    Callback,
    CancelBackwardException,
    CancelBatchException,
    CancelEpochException,
    CancelFitException,
    CancelStepException,
    CancelTrainException,
    CancelValidException,
    TrainEvalCallback,
    callback_name,
)
from lamina.core.learner.events import EVENTS, canonical_event
from lamina.core.learner.ordering import sort_callbacks
from lamina.core.learner.progress import ProgressCallback
from lamina.core.learner.recorder import Recorder
from lamina.core.learner.synth import synth_learner
from lamina.core.optim.optimizers import SGD


class EventLog(Callback):
    """Records `(event, epoch, iter, training)` for every event."""

    order = 100

    def __init__(self):
        self.events = []


def _logger(event):
    def method(self):
        learn = self.learn
        self.events.append((event, learn.epoch, learn.iter, learn.training))

    return method


for _event in EVENTS:
    setattr(EventLog, _event, _logger(_event))


def names(log, training=None):
    return [e for e, _, _, t in log.events if training is None or t == training]


def sgd_learner(**kwargs):
    """Plain SGD (no momentum, no weight decay) so parameter changes are exact multiples of the grads."""
    kwargs.setdefault("default_cbs", False)
    return synth_learner(opt_func=SGD, lr=0.1, **kwargs)


def params_of(learn):
    return [p.detach().clone() for p in learn.model.parameters()]


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


# --- the batch step and two-way state --------------------------------------------------------------
def test_events_of_a_fit_run_in_the_paper_order():
    log = EventLog()
    learn = sgd_learner(n_train=32, n_valid=16, bs=16, cbs=log)
    learn.fit(1)
    batch = [
        "before_batch",
        "after_pred",
        "after_loss",
        "before_backward",
        "after_backward",
        "before_step",
        "after_step",
        "after_batch",
    ]
    valid_batch = ["before_batch", "after_pred", "after_loss", "after_batch"]
    expected = (
        ["after_create", "before_fit", "before_epoch", "before_train"]
        + batch * 2
        + ["after_train", "before_validate"]
        + valid_batch
        + ["after_validate", "after_epoch", "after_fit"]
    )
    assert names(log) == expected


def test_callback_that_changes_learn_loss_changes_training():
    """Scaling `learn.loss` in `after_loss` scales the SGD update (backward uses what the callback wrote)."""

    class TripleLoss(Callback):
        def after_loss(self):
            self.learn.loss = self.loss * 3

    deltas = []
    for cbs in ([], [TripleLoss()]):
        learn = sgd_learner(n_train=16, bs=16, cbs=cbs)
        before = params_of(learn)
        learn.fit(1)
        deltas.append([a - b for a, b in zip(params_of(learn), before)])
    for plain, tripled in zip(*deltas):
        assert plain.abs().min() > 0
        torch.testing.assert_close(tripled, plain * 3)


def test_callback_that_changes_xb_changes_what_the_model_sees():
    seen = []

    class ZeroInputs(Callback):
        def before_batch(self):
            self.learn.xb = (torch.zeros_like(self.xb[0]),)

    class Spy(Callback):
        order = 1

        def after_pred(self):
            seen.append(self.xb[0].abs().sum().item())

    learn = sgd_learner(n_train=32, bs=16, cbs=[ZeroInputs(), Spy()])
    learn.fit(1)
    assert seen and all(v == 0 for v in seen)


def test_callback_reads_learner_state_as_attributes():
    seen = {}

    class Reader(Callback):
        def after_loss(self):
            if self.training and self.epoch == 0 and self.iter == 1:
                seen.update(
                    epoch=self.epoch,
                    n_epoch=self.n_epoch,
                    iter=self.iter,
                    n_iter=self.n_iter,
                    pct=self.pct_train,
                    loss_is_learn_loss=self.loss is self.learn.loss,
                    pred_shape=tuple(self.pred.shape),
                    xb_len=len(self.xb),
                    yb_len=len(self.yb),
                    model_is=self.model is self.learn.model,
                    has_opt=self.opt is self.learn.opt,
                    dl_is_train=self.dl is self.learn.dls.train,
                )

    learn = sgd_learner(n_train=64, bs=16, cbs=Reader())
    learn.fit(2)
    assert seen == {
        "epoch": 0,
        "n_epoch": 2,
        "iter": 1,
        "n_iter": 4,
        "pct": pytest.approx(1 / 8),
        "loss_is_learn_loss": True,
        "pred_shape": (16, 1),
        "xb_len": 1,
        "yb_len": 1,
        "model_is": True,
        "has_opt": True,
        "dl_is_train": True,
    }


def test_assigning_learner_state_on_the_callback_is_an_error():
    class Sloppy(Callback):
        def after_loss(self):
            self.loss = self.loss * 2

    learn = sgd_learner(cbs=Sloppy())
    with pytest.raises(AttributeError, match=r"self\.learn\.loss"):
        learn.fit(1)


def test_callback_own_attributes_are_fine():
    class Counter(Callback):
        def __init__(self):
            self.count = 0
            self.model = "my own"  # set before attaching: the callback's own, documented

        def after_batch(self):
            self.count += 1

    cb = Counter()
    learn = sgd_learner(n_train=32, bs=16, cbs=cb)
    learn.fit(1)
    assert cb.count == 2 + 2  # two training batches, two validation batches
    assert cb.model == "my own"


def test_reading_a_missing_attribute_names_both_sides():
    cb = Callback()
    with pytest.raises(AttributeError, match="not attached"):
        _ = cb.nothing_here
    learn = sgd_learner(cbs=cb)
    with pytest.raises(AttributeError, match="nor its Learner"):
        _ = cb.nothing_here
    assert learn.train_eval.n_epoch == learn.n_epoch


def test_exception_in_a_callback_names_callback_and_event():
    class Broken(Callback):
        def after_pred(self):
            raise ValueError("boom")

    learn = sgd_learner(cbs=Broken())
    with pytest.raises(ValueError, match="boom") as info:
        learn.fit(1)
    assert any("Broken" in n and "after_pred" in n for n in info.value.__notes__)


# --- cancellation -----------------------------------------------------------------------------------
def raising(event, exc, when=lambda learn: True):
    class Raiser(Callback):
        pass

    def method(self):
        if when(self.learn):
            raise exc()

    setattr(Raiser, event, method)
    return Raiser()


def test_cancel_batch_in_after_loss_skips_backward_and_step():
    log = EventLog()
    learn = sgd_learner(n_train=32, bs=16, cbs=[raising("after_loss", CancelBatchException), log])
    before = params_of(learn)
    learn.fit(1)
    assert same(before, params_of(learn))
    train = names(log, training=True)
    assert "before_backward" not in train and "before_step" not in train
    assert train.count("after_cancel_batch") == 2 and train.count("after_batch") == 2
    assert all(p.grad is None for p in learn.model.parameters())


def test_cancel_step_skips_the_update_but_not_backward():
    grads = []

    class GradSpy(Callback):
        def after_backward(self):
            grads.append([p.grad is not None for p in self.model.parameters()])

    log = EventLog()
    learn = sgd_learner(n_train=32, bs=16, cbs=[raising("before_step", CancelStepException), GradSpy(), log])
    before = params_of(learn)
    learn.fit(1)
    assert same(before, params_of(learn))
    assert grads == [[True, True]] * 2
    train = names(log, training=True)
    assert train.count("after_cancel_step") == 2 and train.count("after_step") == 2
    assert all(p.grad is None for p in learn.model.parameters())  # zero_grad still ran


def test_cancel_backward_leaves_no_gradient_to_step_with():
    log = EventLog()
    learn = sgd_learner(n_train=32, bs=16, cbs=[raising("before_backward", CancelBackwardException), log])
    before = params_of(learn)
    learn.fit(1)
    assert same(before, params_of(learn))
    train = names(log, training=True)
    assert train.count("after_cancel_backward") == 2 and train.count("before_step") == 2


def test_cancel_train_skips_the_rest_of_training_but_validates():
    log = EventLog()
    learn = sgd_learner(n_train=64, bs=16, cbs=[raising("after_batch", CancelTrainException, _training), log])
    learn.fit(1)
    # The exception stops the rest of that event too: later callbacks miss that one after_batch.
    assert names(log, training=True).count("before_batch") == 1
    assert names(log, training=True).count("after_batch") == 0
    assert "after_cancel_train" in names(log) and "before_validate" in names(log)
    assert names(log, training=False).count("after_batch") == 2


def _training(learn):
    return learn.training


def test_cancel_valid_skips_validation_batches():
    log = EventLog()
    learn = synth_learner(opt_func=SGD, cbs=[raising("before_validate", CancelValidException), log])
    with learn.no_logging():
        learn.fit(2)
    assert names(log, training=False).count("before_batch") == 0
    assert names(log).count("after_cancel_validate") == 2 and names(log).count("after_validate") == 2
    assert [row[1] for row in learn.recorder.values] == [None, None]  # no valid loss
    assert all(row[0] is not None for row in learn.recorder.values)


def test_cancel_epoch_skips_that_epoch_only():
    log = EventLog()
    cancel_first = raising("before_train", CancelEpochException, lambda learn: learn.epoch == 0)
    learn = sgd_learner(n_train=32, bs=16, cbs=[cancel_first, log])
    learn.fit(2)
    events = log.events
    assert [(e, ep) for e, ep, _, _ in events if e in ("after_cancel_epoch", "after_epoch")] == [
        ("after_cancel_epoch", 0),
        ("after_epoch", 0),
        ("after_epoch", 1),
    ]
    assert {ep for e, ep, _, t in events if e == "before_batch"} == {1}


def test_cancel_fit_stops_training_and_still_runs_after_fit():
    log = EventLog()
    learn = sgd_learner(
        cbs=[raising("before_epoch", CancelFitException, lambda learn: learn.epoch == 1), log]
    )
    learn.fit(5)
    assert names(log).count("before_train") == 1 and names(log).count("after_epoch") == 1
    assert names(log)[-2:] == ["after_cancel_fit", "after_fit"]


# --- ordering -----------------------------------------------------------------------------------
class First(Callback):
    order = -5


class Middle(Callback):
    order = 5


class Last(Callback):
    order = 20


def test_callbacks_added_in_the_wrong_order_are_sorted():
    learn = sgd_learner(cbs=[Last(), First(), Middle()])
    assert [type(cb) for cb in learn.cbs] == [TrainEvalCallback, First, Middle, Last]


def test_equal_order_keeps_insertion_order():
    class A(Callback):
        pass

    class B(Callback):
        pass

    assert [type(c) for c in sort_callbacks([B(), A()])] == [B, A]
    assert [type(c) for c in sort_callbacks([A(), B()])] == [A, B]


def test_run_after_and_run_before_override_order():
    class Early(Callback):
        order = -100
        run_after = Last  # a class

    class Late(Callback):
        order = 100
        run_before = "First"  # a class name

    ordered = [type(c) for c in sort_callbacks([First(), Middle(), Last(), Early(), Late()])]
    # Late is pulled forward to just before First; Early waits for Last; the rest keep their order.
    assert ordered == [Late, First, Middle, Last, Early]


def test_run_after_by_snake_name():
    class CsvWriter(Callback):
        order = -100
        run_after = "recorder"

    learn = synth_learner(cbs=CsvWriter())
    kinds = [type(c) for c in learn.cbs]
    assert kinds.index(CsvWriter) > kinds.index(Recorder)


def test_circular_constraints_are_a_clear_error():
    class A(Callback):
        run_after = "B"

    class B(Callback):
        run_after = "A"

    class C(Callback):
        run_after = A

    with pytest.raises(ValueError, match=r"circular.*(A -> B -> A|B -> A -> B)"):
        sort_callbacks([C(), A(), B()])
    learn = sgd_learner(cbs=A())
    with pytest.raises(ValueError, match="circular"):
        learn.add_cb(B())
    assert "b" not in learn.callbacks  # nothing attached on failure


def test_bad_run_after_is_a_clear_error():
    class Odd(Callback):
        run_after = 3

    with pytest.raises(TypeError, match="Odd.run_after"):
        sort_callbacks([Odd()])


# --- aliases ---------------------------------------------------------------------------------------
def test_old_begin_names_run_at_the_before_events():
    class Old(Callback):
        def __init__(self):
            self.seen = []

        def begin_fit(self):
            self.seen.append("fit")

        def begin_epoch(self):
            self.seen.append("epoch")

        def begin_train(self):
            self.seen.append("train")

        def begin_batch(self):
            self.seen.append("batch" if self.training else "vbatch")

        def begin_validate(self):
            self.seen.append("validate")

    cb = Old()
    learn = sgd_learner(n_train=32, n_valid=16, bs=16, cbs=cb)
    learn.fit(1)
    assert cb.seen == ["fit", "epoch", "train", "batch", "batch", "validate", "vbatch"]
    assert canonical_event("begin_batch") == "before_batch"


def test_defining_both_old_and_new_names_is_an_error():
    with pytest.raises(TypeError, match="begin_batch"):

        class Both(Callback):
            def begin_batch(self):
                pass

            def before_batch(self):
                pass


def test_unknown_event_name_is_a_clear_error():
    learn = sgd_learner()
    with pytest.raises(ValueError, match="unknown training event 'before_lunch'"):
        learn("before_lunch")


# --- run switches --------------------------------------------------------------------------------
def test_run_train_and_run_valid_skip_batch_events_of_that_phase():
    class TrainOnly(Callback):
        run_valid = False

        def __init__(self):
            self.batches, self.validates = [], 0

        def after_batch(self):
            self.batches.append(self.training)

        def before_validate(self):
            self.validates += 1

    class ValidOnly(TrainOnly):
        run_valid, run_train = True, False

    t, v = TrainOnly(), ValidOnly()
    learn = sgd_learner(n_train=32, n_valid=16, bs=16, cbs=[t, v])
    learn.fit(1)
    assert t.batches == [True, True] and v.batches == [False]
    assert t.validates == v.validates == 1  # events outside the batch loop always run


def test_run_false_skips_events_until_the_end_of_the_fit():
    class Once(Callback):
        def __init__(self):
            self.calls = 0

        def after_batch(self):
            self.calls += 1
            self.run = False

    cb = Once()
    learn = sgd_learner(n_train=32, bs=16, cbs=cb)
    learn.fit(2)
    assert cb.calls == 1 and cb.run is True
    learn.fit(1)
    assert cb.calls == 2


def test_train_eval_switches_model_mode_and_counts():
    modes = []

    class Mode(Callback):
        def after_pred(self):
            modes.append((self.training, self.model.training, self.train_iter, round(self.pct_train, 4)))

    learn = sgd_learner(n_train=32, n_valid=16, bs=16, cbs=Mode())
    learn.fit(2)
    assert modes == [
        (True, True, 0, 0.0),
        (True, True, 1, 0.25),
        (False, False, 2, 0.5),
        (True, True, 2, 0.5),
        (True, True, 3, 0.75),
        (False, False, 4, 1.0),
    ]


# --- attaching and detaching -----------------------------------------------------------------------
def test_callbacks_are_attributes_and_in_the_dict():
    learn = synth_learner()
    assert isinstance(learn.recorder, Recorder) and isinstance(learn.progress, ProgressCallback)
    assert isinstance(learn.train_eval, TrainEvalCallback)
    assert learn.callbacks == {
        "train_eval": learn.train_eval,
        "recorder": learn.recorder,
        "progress": learn.progress,
    }
    learn.remove_cb(Recorder)
    assert "recorder" not in learn.callbacks and not hasattr(learn, "recorder")
    assert callback_name("GradientAccumulationCallback") == "gradient_accumulation"


def test_callback_name_that_would_hide_a_learner_attribute_is_refused():
    class FitCallback(Callback):
        pass

    class Loss(Callback):
        pass

    learn = sgd_learner()
    with pytest.raises(ValueError, match="Learner.fit"):
        learn.add_cb(FitCallback())
    with pytest.raises(ValueError, match="'loss'"):
        learn.add_cb(Loss)
    assert learn.cbs == (learn.train_eval,)


def test_add_cb_accepts_classes_and_ignores_duplicates():
    learn = sgd_learner()
    learn.add_cb(Middle)
    cb = learn.middle
    learn.add_cb(cb)
    assert [type(c) for c in learn.cbs].count(Middle) == 1 and cb.learn is learn
    with pytest.raises(TypeError, match="Callback"):
        learn.add_cb(lambda: None)


def test_added_cbs_and_removed_cbs_restore_the_list():
    learn = synth_learner()
    before = learn.cbs
    extra = Middle()
    with learn.added_cbs([extra, Last]):
        assert learn.middle is extra and isinstance(learn.last, Last)
    assert learn.cbs == before and extra.learn is None
    with learn.removed_cbs(ProgressCallback):
        assert not hasattr(learn, "progress")
        assert ProgressCallback not in [type(c) for c in learn.cbs]
    assert learn.cbs == before and learn.progress.learn is learn


def test_fit_cbs_are_attached_for_that_fit_only():
    log = EventLog()
    learn = sgd_learner()
    learn.fit(1, cbs=log)
    assert log.events and log not in learn.cbs and log.learn is None


def test_same_named_callbacks_attribute_follows_the_remaining_one():
    a, b = Middle(), Middle()
    learn = sgd_learner(cbs=[a, b])
    assert learn.middle is b
    learn.remove_cb(b)
    assert learn.middle is a


def test_direct_call_of_a_callback_runs_its_event():
    class Direct(Callback):
        def __init__(self):
            self.hits = 0

        def begin_fit(self):
            self.hits += 1

    cb = Direct()
    cb("before_fit")
    cb("begin_fit")
    cb("after_fit")
    assert cb.hits == 2


def test_model_is_left_in_place_between_fits():
    learn = sgd_learner()
    model = learn.model
    learn.fit(1)
    assert learn.model is model and isinstance(model, nn.Module)
    assert learn.xb == () and learn.pred is None  # state cleared after a fit
