"""Regression metrics against scikit-learn / scipy and reference formulas."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn import metrics as skm

from lamina.core.metrics import (
    AvgMetric,
    ExplainedVariance,
    PearsonCorrCoef,
    R2Score,
    SpearmanCorrCoef,
    exp_rmspe,
    mae,
    mk_metric,
    mse,
    msle,
    rmse,
)

SIZES = [9, 1, 20, 13, 7]


def batches(*tensors, sizes=SIZES):
    return list(zip(*[t.split(sizes) for t in tensors]))


def run(metric, pairs):
    metric.reset()
    for pred, targ in pairs:
        metric.accumulate(SimpleNamespace(pred=pred, yb=(targ,), xb=(), loss=None, loss_func=None))
    return metric.value


@pytest.fixture
def reg():
    g = torch.Generator().manual_seed(0)
    targ = torch.rand(50, generator=g) * 5
    pred = targ + 0.5 * torch.randn(50, generator=g)
    return pred.clamp_min(0), targ


def test_mean_errors_match_sklearn(reg):
    pred, targ = reg
    cases = [
        (mse, skm.mean_squared_error(targ, pred)),
        (mae, skm.mean_absolute_error(targ, pred)),
        (msle, skm.mean_squared_log_error(targ, pred)),
    ]
    for func, expected in cases:
        assert func(pred, targ).item() == pytest.approx(expected, rel=1e-5), func.__name__
        assert run(mk_metric(func), batches(pred, targ)) == pytest.approx(expected, rel=1e-5), func.__name__
        assert mk_metric(func).name == func.__name__


def test_rmse_is_over_the_whole_set_not_a_mean_of_batches(reg):
    pred, targ = reg
    expected = math.sqrt(skm.mean_squared_error(targ, pred))
    assert run(rmse, batches(pred, targ)) == pytest.approx(expected, rel=1e-6)
    assert rmse(pred, targ) == pytest.approx(expected, rel=1e-6)
    batch_mean = run(AvgMetric(lambda p, t: ((p - t) ** 2).mean().sqrt()), batches(pred, targ))
    assert abs(batch_mean - expected) > 1e-3
    assert rmse.name == "rmse"


def test_exp_rmspe_reference_formula(reg):
    pred, targ = reg
    p, t = np.exp(pred.double().numpy()), np.exp(targ.double().numpy())
    expected = np.sqrt(np.mean(((t - p) / t) ** 2))
    assert run(exp_rmspe, batches(pred, targ)) == pytest.approx(expected, rel=1e-9)


def test_regression_functions_accept_shapes_and_integer_targets():
    pred = torch.tensor([[1.0], [2.0], [4.0]])
    targ = torch.tensor([1, 3, 4])
    assert mse(pred, targ).item() == pytest.approx(1 / 3)
    assert mae(pred, targ).item() == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match=r"mse: 3 predictions for 2 targets"):
        mse(pred, targ[:2])
    with pytest.raises(ValueError, match="msle: targets must be greater than -1"):
        msle(torch.ones(2), torch.tensor([0.0, -1.0]))


@pytest.mark.parametrize(
    "cls,reference",
    [
        (R2Score, lambda t, p: skm.r2_score(t, p)),
        (ExplainedVariance, lambda t, p: skm.explained_variance_score(t, p)),
        (PearsonCorrCoef, lambda t, p: stats.pearsonr(p, t)[0]),
        (SpearmanCorrCoef, lambda t, p: stats.spearmanr(p, t)[0]),
    ],
)
def test_whole_set_scores_match_references(reg, cls, reference):
    pred, targ = reg
    pred = pred.clone()
    pred[::5] = pred[1]  # ties, for the rank correlation
    expected = reference(targ.double().numpy(), pred.double().numpy())
    assert run(cls(), batches(pred, targ)) == pytest.approx(expected, rel=1e-9)
    assert cls()(pred.reshape(10, 5), targ.reshape(10, 5)) == pytest.approx(expected, rel=1e-9)


def test_whole_set_scores_on_constant_data():
    const = torch.full((6,), 2.0)
    other = torch.arange(6.0)
    assert R2Score()(const, const) == skm.r2_score(const, const) == 1.0
    assert R2Score()(other, const) == skm.r2_score(const, other) == 0.0
    assert ExplainedVariance()(other, const) == skm.explained_variance_score(const, other)
    assert math.isnan(PearsonCorrCoef()(other, const))
    assert R2Score()(other, other) == 1.0
    assert R2Score().name == "r2_score"
    with pytest.raises(ValueError, match="r2_score: 6 predictions for 5 targets"):
        R2Score()(other, other[:5])
