"""Classification metrics against scikit-learn, as functions and through the accumulate protocol."""

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from lamina.core.metrics import (
    AvgMetric,
    BalancedAccuracy,
    CohenKappa,
    F1Score,
    F1ScoreMulti,
    FBeta,
    FBetaMulti,
    Jaccard,
    JaccardMulti,
    MatthewsCorrCoef,
    Precision,
    PrecisionMulti,
    Recall,
    RecallMulti,
    accuracy,
    accuracy_multi,
    error_rate,
    mk_metric,
    top_k_accuracy,
)

SIZES = [9, 1, 20, 13, 7]  # 50 items in unequal batches


def batches(*tensors, sizes=SIZES):
    return list(zip(*[t.split(sizes) for t in tensors]))


def run(metric, pairs):
    """Drive `metric` like the Learner does, with a stand-in learner."""
    metric.reset()
    for pred, targ in pairs:
        metric.accumulate(SimpleNamespace(pred=pred, yb=(targ,), xb=(), loss=None, loss_func=None))
    return metric.value


def multiclass(seed, n=50, c=4):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, generator=g), torch.randint(0, c, (n,), generator=g)


def sk(func, targ, pred_labels, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(targ.numpy(), pred_labels.numpy(), **kwargs)


# ---- per-item functions


@pytest.mark.parametrize("seed", [0, 1])
def test_accuracy_and_error_rate(seed):
    pred, targ = multiclass(seed)
    expected = skm.accuracy_score(targ, pred.argmax(-1))
    assert accuracy(pred, targ).item() == pytest.approx(expected)
    assert error_rate(pred, targ).item() == pytest.approx(1 - expected)
    assert run(mk_metric(accuracy), batches(pred, targ)) == pytest.approx(expected)
    assert run(mk_metric(error_rate), batches(pred, targ)) == pytest.approx(1 - expected)


def test_accuracy_over_another_axis_and_extreme_cases():
    pred, targ = multiclass(2, n=12, c=3)
    images = pred.T.reshape(1, 3, 3, 4)  # classes along axis 1, like segmentation
    assert accuracy(images, targ.reshape(1, 3, 4), axis=1).item() == pytest.approx(
        skm.accuracy_score(targ, pred.argmax(-1))
    )
    assert accuracy(torch.eye(3), torch.arange(3)).item() == 1.0
    assert accuracy(torch.eye(3), torch.tensor([1, 2, 0])).item() == 0.0


def test_accuracy_shape_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match=r"accuracy: 2 predictions for 3 targets"):
        accuracy(torch.randn(2, 5), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="no class axis"):
        accuracy(torch.tensor(1.0), torch.zeros(1))
    with pytest.raises(TypeError, match="class scores"):
        accuracy([0.1, 0.9], torch.zeros(1))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_accuracy(k):
    pred, targ = multiclass(3, c=5)
    expected = skm.top_k_accuracy_score(targ, pred, k=k, labels=range(5))
    assert top_k_accuracy(pred, targ, k=k).item() == pytest.approx(expected)
    assert run(AvgMetric(lambda p, t: top_k_accuracy(p, t, k=k)), batches(pred, targ)) == pytest.approx(
        expected
    )
    along_1 = top_k_accuracy(pred.T.unsqueeze(0), targ.unsqueeze(0), k=k, axis=1)
    assert along_1.item() == pytest.approx(expected)


def test_top_k_accuracy_errors():
    with pytest.raises(ValueError, match="k=5 but the prediction has 3 classes"):
        top_k_accuracy(torch.randn(4, 3), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="4 predictions for 2 targets"):
        top_k_accuracy(torch.randn(4, 3), torch.zeros(2, dtype=torch.long), k=2)


def test_accuracy_multi():
    g = torch.Generator().manual_seed(4)
    logits, targ = torch.randn(50, 6, generator=g), (torch.rand(50, 6, generator=g) > 0.6).float()
    expected = ((torch.sigmoid(logits) > 0.3) == targ.bool()).double().mean().item()
    assert accuracy_multi(logits, targ, thresh=0.3).item() == pytest.approx(expected)
    probs = torch.sigmoid(logits)
    assert accuracy_multi(probs, targ, thresh=0.3, sigmoid=False).item() == pytest.approx(expected)
    metric = AvgMetric(lambda p, t: accuracy_multi(p, t, thresh=0.3))
    assert run(metric, batches(logits, targ)) == pytest.approx(expected)
    assert 1 - skm.hamming_loss(targ, probs > 0.3) == pytest.approx(expected)  # same quantity
    with pytest.raises(ValueError, match="accuracy_multi: 12 predictions for 6 targets"):
        accuracy_multi(torch.randn(2, 6), torch.ones(1, 6))


# ---- confusion-count metrics

SET_SCORES = [
    (F1Score, skm.f1_score, {}),
    (Precision, skm.precision_score, {}),
    (Recall, skm.recall_score, {}),
    (Jaccard, skm.jaccard_score, {}),
    (FBeta, skm.fbeta_score, {"beta": 2.0}),
    (FBeta, skm.fbeta_score, {"beta": 0.5}),
]


@pytest.mark.parametrize("cls,sk_func,extra", SET_SCORES)
@pytest.mark.parametrize("average", ["micro", "macro", "weighted", None])
def test_multiclass_set_scores_match_sklearn(cls, sk_func, extra, average):
    pred, targ = multiclass(5, c=4)
    pred[targ == 3] += 1.5  # make class 3 easier, so the classes differ
    expected = sk(sk_func, targ, pred.argmax(-1), average=average, **extra)
    metric = cls(average=average, **extra)
    for got in (run(metric, batches(pred, targ)), metric(pred, targ)):
        if average is None:
            np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
        else:
            assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("cls,sk_func,extra", SET_SCORES)
@pytest.mark.parametrize("pos_label", [0, 1])
def test_binary_set_scores_match_sklearn(cls, sk_func, extra, pos_label):
    pred, targ = multiclass(6, c=2)
    expected = sk(sk_func, targ, pred.argmax(-1), pos_label=pos_label, **extra)
    got = run(cls(pos_label=pos_label, **extra), batches(pred, targ))
    assert got == pytest.approx(expected, rel=1e-12)
    assert cls(**extra).name == sk_func.__name__


@pytest.mark.parametrize("cls,sk_func,extra", SET_SCORES)
def test_set_scores_with_labels_and_zero_division(cls, sk_func, extra):
    # class 2 is never predicted nor a target; class 3 is predicted but never a target
    targ = torch.tensor([0, 0, 1, 1, 1, 0, 1, 0])
    labels_pred = torch.tensor([0, 3, 1, 1, 0, 0, 3, 1])
    for average in ("macro", "micro", "weighted"):
        for zero_division in (0.0, 1.0) if sk_func is skm.jaccard_score else (0.0, 1.0, np.nan):
            kwargs = dict(average=average, zero_division=zero_division, **extra)
            expected = sk(sk_func, targ, labels_pred, labels=[0, 1, 2, 3], **kwargs)
            got = cls(labels=[0, 1, 2, 3], **kwargs)(labels_pred, targ)
            assert got == pytest.approx(expected, rel=1e-12, nan_ok=True), (average, zero_division)
            expected = sk(sk_func, targ, labels_pred, **kwargs)
            got = cls(**kwargs)(labels_pred, targ)
            assert got == pytest.approx(expected, rel=1e-12, nan_ok=True), (average, zero_division)


def test_set_scores_on_degenerate_sets():
    ones = torch.ones(5, dtype=torch.long)
    zeros = torch.zeros(5, dtype=torch.long)
    for cls, sk_func in (
        (F1Score, skm.f1_score),
        (Precision, skm.precision_score),
        (Recall, skm.recall_score),
    ):
        for p, t in ((ones, ones), (zeros, zeros), (zeros, ones), (ones, zeros)):
            assert cls()(p, t) == pytest.approx(sk(sk_func, t, p)), (cls, p, t)
            assert cls(average="macro")(p, t) == pytest.approx(sk(sk_func, t, p, average="macro"))


def test_set_score_errors():
    pred, targ = multiclass(7, c=3)
    with pytest.raises(ValueError, match="hold 3 classes .* but average='binary'"):
        F1Score()(pred, targ)
    with pytest.raises(ValueError, match="pos_label=1 is not a valid label"):
        F1Score()(torch.tensor([0, 2, 2]), torch.tensor([2, 0, 0]))
    with pytest.raises(ValueError, match="'samples' is for the multi-label variants"):
        F1Score(average="samples")
    with pytest.raises(ValueError, match=r"precision_score: 50 predictions for 49 targets"):
        Precision(average="macro")(pred, targ[:49])
    with pytest.raises(ValueError, match="one score along class axis -1"):
        F1Score()(torch.randn(4, 1), torch.ones(4))
    with pytest.raises(ValueError, match="non-negative class indices, found -100"):
        F1Score(average="macro")(pred[:3], torch.tensor([0, -100, 1]))
    with pytest.raises(ValueError, match="zero_division"):
        F1Score(zero_division=0.5)
    with pytest.raises(ValueError, match="beta must be positive"):
        FBeta(beta=0)


def test_labels_given_as_float_targets_and_bool_predictions():
    targ = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0])
    pred = torch.tensor([False, True, False, False, True])
    assert F1Score()(pred, targ) == pytest.approx(skm.f1_score(targ.numpy(), pred.numpy()))
    with pytest.raises(ValueError, match="non-integer"):
        F1Score()(pred, torch.tensor([0.5, 1, 1, 0, 1]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matthews_balanced_accuracy_and_kappa_match_sklearn(seed):
    pred, targ = multiclass(seed, c=4)
    pred[targ == 0] += 1.0
    labels = pred.argmax(-1)
    cases = [
        (MatthewsCorrCoef(), sk(skm.matthews_corrcoef, targ, labels)),
        (BalancedAccuracy(), sk(skm.balanced_accuracy_score, targ, labels)),
        (BalancedAccuracy(adjusted=True), sk(skm.balanced_accuracy_score, targ, labels, adjusted=True)),
        (CohenKappa(), sk(skm.cohen_kappa_score, targ, labels)),
        (CohenKappa(weights="linear"), sk(skm.cohen_kappa_score, targ, labels, weights="linear")),
        (CohenKappa(weights="quadratic"), sk(skm.cohen_kappa_score, targ, labels, weights="quadratic")),
    ]
    for metric, expected in cases:
        assert run(metric, batches(pred, targ)) == pytest.approx(expected, rel=1e-12), metric
        assert metric(pred, targ) == pytest.approx(expected, rel=1e-12), metric


def test_matthews_and_friends_on_edge_cases():
    same = torch.tensor([2, 2, 2, 2])
    assert MatthewsCorrCoef()(same, same) == sk(skm.matthews_corrcoef, same, same) == 0.0
    perfect = torch.tensor([0, 1, 2, 1])
    assert MatthewsCorrCoef()(perfect, perfect) == pytest.approx(1.0)
    reversed_ = torch.tensor([1, 0, 1, 0])
    assert MatthewsCorrCoef()(reversed_, 1 - reversed_) == pytest.approx(-1.0)
    # labels that appear only in the predictions count, like in scikit-learn
    t, p = torch.tensor([0, 0, 1, 1]), torch.tensor([0, 5, 1, 1])
    assert MatthewsCorrCoef()(p, t) == pytest.approx(sk(skm.matthews_corrcoef, t, p))
    assert BalancedAccuracy()(p, t) == pytest.approx(sk(skm.balanced_accuracy_score, t, p))
    assert CohenKappa(weights="linear")(p, t) == pytest.approx(
        sk(skm.cohen_kappa_score, t, p, weights="linear")
    )
    assert np.isnan(CohenKappa()(same, same))
    with pytest.raises(ValueError, match="weights must be"):
        CohenKappa(weights="cubic")


def test_confusion_metrics_on_segmentation_shaped_input():
    pred, targ = multiclass(8, n=48, c=3)
    # (4, 3, 12) scores with classes on axis 1 and (4, 12) masks hold the same items re-arranged
    images = pred.reshape(4, 12, 3).permute(0, 2, 1)
    masks = targ.reshape(4, 12)
    expected = skm.f1_score(targ, pred.argmax(-1), average="macro")
    assert F1Score(axis=1, average="macro")(images, masks) == pytest.approx(expected)
    assert run(F1Score(axis=1, average="macro"), batches(images, masks, sizes=[1, 3])) == pytest.approx(
        expected
    )


# ---- multi-label


def multilabel(seed, n=50, c=5):
    g = torch.Generator().manual_seed(seed)
    targ = (torch.rand(n, c, generator=g) > 0.6).float()
    logits = torch.randn(n, c, generator=g) + 1.2 * (2 * targ - 1)
    targ[:, 4] = 0  # a label with no positives
    logits[:3] = -5  # rows with no predicted label
    return logits, targ


MULTI_SCORES = [
    (F1ScoreMulti, skm.f1_score, {}),
    (PrecisionMulti, skm.precision_score, {}),
    (RecallMulti, skm.recall_score, {}),
    (JaccardMulti, skm.jaccard_score, {}),
    (FBetaMulti, skm.fbeta_score, {"beta": 2.0}),
]


@pytest.mark.parametrize("cls,sk_func,extra", MULTI_SCORES)
@pytest.mark.parametrize("average", ["micro", "macro", "weighted", "samples", None])
def test_multilabel_scores_match_sklearn(cls, sk_func, extra, average):
    logits, targ = multilabel(9)
    for thresh in (0.5, 0.3):
        for zero_division in (0.0, 1.0):
            kwargs = dict(average=average, zero_division=zero_division, **extra)
            expected = sk(sk_func, targ.int(), (torch.sigmoid(logits) >= thresh).int(), **kwargs)
            got = run(cls(thresh=thresh, **kwargs), batches(logits, targ))
            if average is None:
                np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
            else:
                assert got == pytest.approx(expected, rel=1e-12), (thresh, zero_division)


def test_multilabel_options_and_errors():
    logits, targ = multilabel(10)
    probs = torch.sigmoid(logits)
    expected = skm.f1_score(targ.int(), (probs >= 0.5).int(), average="macro", labels=[0, 2])
    assert F1ScoreMulti(sigmoid=False, average="macro", labels=[0, 2])(probs, targ) == pytest.approx(expected)
    with pytest.raises(ValueError, match="same shape"):
        F1ScoreMulti()(logits, targ[:, :3])
    with pytest.raises(ValueError, match="average must be"):
        F1ScoreMulti(average="binary")
    with pytest.raises(ValueError, match=r"labels \[7\] but the targets have 5 labels"):
        F1ScoreMulti(labels=[7])(logits, targ)
