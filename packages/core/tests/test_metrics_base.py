"""The metric protocol: AvgMetric, AvgLoss, AvgSmoothLoss, AccumMetric, mk_metric, loss metrics."""

import functools
import math
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lamina.core.metrics import (
    AccumMetric,
    ActivationType,
    AvgLoss,
    AvgMetric,
    AvgSmoothLoss,
    LossMetric,
    LossMetrics,
    Metric,
    Perplexity,
    accuracy,
    flatten_check,
    mk_metric,
)

SIZES = [7, 1, 12, 5]  # unequal batch sizes


def batches(*tensors, sizes=SIZES):
    """Split tensors along dim 0 into batches of the given sizes."""
    splits = [t.split(sizes) for t in tensors]
    return list(zip(*splits))


def run(metric, pairs, losses=None, loss_func=None):
    """Drive `metric` the way the Learner does, with a stand-in learner."""
    metric.reset()
    for i, (pred, targ) in enumerate(pairs):
        learn = SimpleNamespace(
            pred=pred, yb=(targ,), xb=(pred,), loss=None if losses is None else losses[i], loss_func=loss_func
        )
        metric.accumulate(learn)
    return metric.value


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(25, 4, generator=g)
    targ = torch.randint(0, 4, (25,), generator=g)
    return pred, targ


def test_avg_metric_weights_batches_by_size(data):
    pred, targ = data
    value = run(AvgMetric(accuracy), batches(pred, targ))
    expected = (pred.argmax(-1) == targ).double().mean().item()
    assert value == pytest.approx(expected, abs=1e-6)
    # An unweighted mean of the batch accuracies would differ on these batches.
    unweighted = np.mean([(p.argmax(-1) == t).float().mean().item() for p, t in batches(pred, targ)])
    assert abs(unweighted - expected) > 1e-3


def test_avg_metric_passes_every_target_and_names_itself():
    seen = []

    def two_targets(pred, t1, t2):
        seen.append((pred.shape[0], t1.shape[0], t2.shape[0]))
        return (pred - t1 - t2).abs().mean()

    m = AvgMetric(two_targets)
    m.reset()
    m.accumulate(SimpleNamespace(pred=torch.ones(3), yb=(torch.zeros(3), torch.ones(3)), loss=None))
    assert seen == [(3, 3, 3)] and m.value == 0.0
    assert m.name == "two_targets"
    assert AvgMetric(functools.partial(accuracy, axis=-1)).name == "accuracy"


def test_values_are_none_before_any_batch():
    for m in (AvgMetric(accuracy), AvgLoss(), AvgSmoothLoss(), AccumMetric(accuracy), Perplexity()):
        m.reset()
        assert m.value is None, m


def test_avg_loss_is_batch_weighted_mean(data):
    pred, targ = data
    losses = [torch.tensor(v) for v in (0.5, 2.0, 1.0, 3.0)]
    value = run(AvgLoss(), batches(pred, targ), losses)
    expected = sum(n * v.item() for n, v in zip(SIZES, losses)) / sum(SIZES)
    assert value == pytest.approx(expected) and AvgLoss().name == "loss"


def test_perplexity_is_exp_of_mean_loss(data):
    pred, targ = data
    losses = [torch.tensor(v) for v in (0.5, 2.0, 1.0, 3.0)]
    value = run(Perplexity(), batches(pred, targ), losses)
    expected = math.exp(sum(n * v.item() for n, v in zip(SIZES, losses)) / sum(SIZES))
    assert value == pytest.approx(expected) and Perplexity().name == "perplexity"


def test_avg_smooth_loss_matches_debiased_ema():
    beta, values = 0.9, [4.0, 2.0, 3.0, 1.0, 0.5]
    m = AvgSmoothLoss(beta)
    m.reset()
    ema = 0.0
    for n, v in enumerate(values, 1):
        m.accumulate(SimpleNamespace(pred=None, yb=(torch.zeros(2),), loss=torch.tensor([v, v])))
        ema = beta * ema + (1 - beta) * v
        assert m.value == pytest.approx(ema / (1 - beta**n))
    assert AvgSmoothLoss().beta == 0.98
    with pytest.raises(ValueError, match="beta"):
        AvgSmoothLoss(1.0)


def test_avg_loss_needs_a_loss():
    with pytest.raises(ValueError, match="learn.loss"):
        AvgLoss().accumulate(SimpleNamespace(pred=None, yb=(torch.zeros(2),), loss=None))


def test_accum_metric_stores_everything_then_computes(data):
    pred, targ = data
    calls = []

    def rms_of_argmax_error(p, t):
        calls.append(p.shape)
        return ((p - t).double() ** 2).mean().sqrt()

    m = AccumMetric(rms_of_argmax_error, dim_argmax=-1)
    value = run(m, batches(pred, targ))
    assert calls == [(25,)]  # one call, on the whole set
    assert value == pytest.approx(((pred.argmax(-1) - targ).double() ** 2).mean().sqrt().item())
    assert isinstance(value, float) and m.name == "rms_of_argmax_error"


def test_accum_metric_activations_and_threshold(data):
    pred, targ = data
    got = {}

    def capture(key):
        return lambda p, t: got.__setitem__(key, p) or 0.0

    run(AccumMetric(capture("softmax"), activation="softmax", flatten=False), batches(pred, targ))
    run(
        AccumMetric(capture("sigmoid"), activation=ActivationType.Sigmoid, flatten=False), batches(pred, targ)
    )
    run(AccumMetric(capture("binary"), activation="binary_softmax", flatten=False), batches(pred, targ))
    run(AccumMetric(capture("thresh"), activation="sigmoid", thresh=0.6, flatten=False), batches(pred, targ))
    run(AccumMetric(capture("argmax0"), dim_argmax=0, flatten=False), [(pred.T, targ)])
    torch.testing.assert_close(got["softmax"], torch.softmax(pred, -1))
    torch.testing.assert_close(got["sigmoid"], torch.sigmoid(pred))
    torch.testing.assert_close(got["binary"], torch.softmax(pred, -1)[:, -1])
    assert torch.equal(got["thresh"], torch.sigmoid(pred) >= 0.6)
    assert torch.equal(got["argmax0"], pred.argmax(-1))  # dim_argmax=0 is honoured (not falsy)


def test_accum_metric_numpy_inverted_args_and_kwargs(data):
    pred, targ = data
    got = {}

    def sk_style(y_true, y_pred, scale):
        got["types"] = (type(y_true), type(y_pred))
        return float((y_true == y_pred).mean() * scale)

    m = AccumMetric(sk_style, dim_argmax=-1, to_np=True, invert_arg=True, name="acc", scale=2.0)
    value = run(m, batches(pred, targ))
    assert got["types"] == (np.ndarray, np.ndarray)
    assert value == pytest.approx(2 * (pred.argmax(-1) == targ).double().mean().item())
    assert m.name == "acc"


def test_accum_metric_errors(data):
    pred, targ = data
    with pytest.raises(ValueError, match="activation must be one of"):
        AccumMetric(accuracy, activation="relu")
    with pytest.raises(TypeError, match="floating"):
        AccumMetric(accuracy, activation="softmax")(torch.ones(3, 2, dtype=torch.long), targ[:3])
    m = AccumMetric(lambda p, t: 0.0, name="rmse")
    with pytest.raises(ValueError, match=r"rmse: 3 predictions for 2 targets"):
        m(torch.ones(3), torch.ones(2))
    m = AccumMetric(lambda p, t: 0.0, flatten=False, name="joined")
    m.reset()
    m.accumulate_values(torch.ones(2, 3), torch.ones(2))
    m.accumulate_values(torch.ones(2, 4), torch.ones(2))
    with pytest.raises(ValueError, match="joined: batches have incompatible shapes"):
        _ = m.value


def test_calling_a_metric_equals_one_accumulated_batch(data):
    pred, targ = data
    m = AccumMetric(lambda p, t: (p == t).double().mean(), dim_argmax=-1, name="acc")
    assert m(pred, targ) == pytest.approx(run(m, [(pred, targ)]))


def test_mk_metric():
    avg = mk_metric(accuracy)
    assert isinstance(avg, AvgMetric) and avg.name == "accuracy"
    loss = AvgLoss()
    assert mk_metric(loss) is loss
    with pytest.raises(TypeError, match=r"AvgLoss is a class; pass an instance such as AvgLoss\(\)"):
        mk_metric(AvgLoss)
    with pytest.raises(TypeError, match="neither a Metric nor a function"):
        mk_metric(3)


def test_base_metric_names_and_unimplemented_methods():
    class MyFancyScore(Metric):
        pass

    m = MyFancyScore()
    assert m.name == "my_fancy_score"
    with pytest.raises(NotImplementedError, match="MyFancyScore must implement reset"):
        m.reset()
    with pytest.raises(NotImplementedError, match="value"):
        _ = m.value


def test_batch_size_errors_are_clear():
    m = AvgMetric(accuracy)
    with pytest.raises(ValueError, match="no target"):
        m.accumulate(SimpleNamespace(pred=torch.ones(2, 2), yb=(), loss=None))
    with pytest.raises(ValueError, match="batch dimension"):
        m.accumulate(SimpleNamespace(pred=torch.ones(2, 2), yb=(torch.tensor(1),), loss=None))


def test_flatten_check():
    a, b = flatten_check(torch.ones(2, 3), torch.zeros(6))
    assert a.shape == b.shape == (6,)
    with pytest.raises(ValueError, match=r"mine: 2 predictions for 3 targets \(prediction shape \(2,\)"):
        flatten_check(torch.ones(2), torch.ones(3), "mine")


class _TwoPartLoss:
    """A loss that records its parts on every call, like detection losses do."""

    def __call__(self, pred, targ):
        self.l1 = (pred - targ).abs().mean()
        self.l2 = ((pred - targ) ** 2).mean()
        return self.l1 + self.l2


def test_loss_metrics_average_the_recorded_parts():
    g = torch.Generator().manual_seed(1)
    pred, targ = torch.randn(25, generator=g), torch.randn(25, generator=g)
    loss_func = _TwoPartLoss()
    metrics = LossMetrics("l1, l2", "mae_part,mse_part")
    assert [m.name for m in metrics] == ["mae_part", "mse_part"]
    for m in metrics:
        m.reset()
    for p, t in batches(pred, targ):
        loss_func(p, t)
        for m in metrics:
            m.accumulate(SimpleNamespace(pred=p, yb=(t,), loss=None, loss_func=loss_func))
    expected_l1 = sum(len(p) * (p - t).abs().mean().item() for p, t in batches(pred, targ)) / 25
    assert metrics[0].value == pytest.approx(expected_l1)
    missing = LossMetric("bbox")
    with pytest.raises(AttributeError, match="_TwoPartLoss has no attribute 'bbox'"):
        missing.accumulate(SimpleNamespace(pred=pred, yb=(targ,), loss=None, loss_func=loss_func))
    with pytest.raises(ValueError, match="2 attributes but 1 names"):
        LossMetrics(["a", "b"], ["x"])


def test_metrics_pickle(data):
    pred, targ = data
    for m in (AvgMetric(accuracy), AvgSmoothLoss(), AccumMetric(accuracy, dim_argmax=-1)):
        clone = pickle.loads(pickle.dumps(m))
        assert type(clone) is type(m) and clone.name == m.name
