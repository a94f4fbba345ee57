"""ROC AUC metrics against scikit-learn, as functions and through the accumulate protocol."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from lamina.core.metrics import RocAuc, RocAucBinary, RocAucMulti
from lamina.core.metrics.roc_auc import roc_auc_binary, roc_curve

SIZES = [9, 1, 20, 13, 7]


def batches(*tensors, sizes=SIZES):
    return list(zip(*[t.split(sizes) for t in tensors]))


def run(metric, pairs):
    metric.reset()
    for pred, targ in pairs:
        metric.accumulate(SimpleNamespace(pred=pred, yb=(targ,), xb=(), loss=None, loss_func=None))
    return metric.value


def binary_data(seed, n=50, ties=False):
    g = torch.Generator().manual_seed(seed)
    targ = torch.randint(0, 2, (n,), generator=g)
    scores = torch.randn(n, generator=g) + targ
    if ties:
        scores = (scores * 2).round() / 2  # many tied scores
    return scores, targ


@pytest.mark.parametrize("seed,ties", [(0, False), (1, True), (2, True)])
def test_binary_auc_matches_sklearn(seed, ties):
    scores, targ = binary_data(seed, ties=ties)
    expected = skm.roc_auc_score(targ, scores)
    assert roc_auc_binary(scores, targ) == pytest.approx(expected, rel=1e-12)
    assert run(RocAucBinary(), batches(scores, targ)) == pytest.approx(expected, rel=1e-12)
    fpr, tpr = roc_curve(scores, targ)
    sk_fpr, sk_tpr, _ = skm.roc_curve(targ, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr.numpy(), sk_fpr, atol=1e-12)
    np.testing.assert_allclose(tpr.numpy(), sk_tpr, atol=1e-12)


@pytest.mark.parametrize("max_fpr", [0.1, 0.3, 0.5, 1.0])
def test_partial_auc_matches_sklearn(max_fpr):
    scores, targ = binary_data(3, n=200, ties=True)
    expected = skm.roc_auc_score(targ, scores, max_fpr=max_fpr)
    assert run(RocAucBinary(max_fpr=max_fpr), batches(scores, targ, sizes=[50, 150])) == pytest.approx(
        expected
    )


def test_binary_auc_accepts_two_columns_one_column_or_probabilities():
    g = torch.Generator().manual_seed(4)
    targ = torch.randint(0, 2, (50,), generator=g)
    logits = torch.randn(50, 2, generator=g)
    logits[:, 1] += targ
    expected = skm.roc_auc_score(targ, torch.softmax(logits, -1)[:, 1])
    assert run(RocAucBinary(), batches(logits, targ)) == pytest.approx(expected)
    one_col = (logits[:, 1] - logits[:, 0]).unsqueeze(1)
    assert run(RocAucBinary(), batches(one_col, targ)) == pytest.approx(expected)
    # the ranking is all that matters
    assert RocAucBinary()(torch.sigmoid(one_col[:, 0]), targ) == pytest.approx(expected)
    assert RocAucBinary().name == "roc_auc_score"


def test_binary_auc_extremes_and_errors():
    targ = torch.tensor([0, 0, 1, 1])
    assert RocAucBinary()(torch.tensor([0.1, 0.2, 0.8, 0.9]), targ) == 1.0
    assert RocAucBinary()(torch.tensor([0.9, 0.8, 0.2, 0.1]), targ) == 0.0
    assert RocAucBinary()(torch.ones(4), targ) == 0.5
    with pytest.warns(UserWarning, match="single class"):
        assert math.isnan(RocAucBinary()(torch.rand(4), torch.ones(4)))
    with pytest.raises(ValueError, match="use RocAuc for more classes"):
        RocAucBinary()(torch.randn(4, 3), targ)
    with pytest.raises(ValueError, match="max_fpr"):
        RocAucBinary(max_fpr=0)


def multiclass(seed, n=60, c=4):
    g = torch.Generator().manual_seed(seed)
    targ = torch.randint(0, c, (n,), generator=g)
    logits = torch.randn(n, c, generator=g)
    logits[torch.arange(n), targ] += 1.0
    return logits, targ


@pytest.mark.parametrize("multi_class", ["ovr", "ovo"])
@pytest.mark.parametrize("average", ["macro", "weighted"])
def test_multiclass_auc_matches_sklearn(multi_class, average):
    logits, targ = multiclass(5)
    probs = torch.softmax(logits.double(), -1)
    expected = skm.roc_auc_score(targ, probs, multi_class=multi_class, average=average)
    metric = RocAuc(average=average, multi_class=multi_class)
    assert run(metric, batches(logits, targ, sizes=[10, 1, 49])) == pytest.approx(expected, rel=1e-6)


def test_multiclass_auc_per_class_and_on_masks():
    logits, targ = multiclass(6)
    probs = torch.softmax(logits.double(), -1)
    expected = skm.roc_auc_score(targ, probs, multi_class="ovr", average=None)
    np.testing.assert_allclose(RocAuc(average=None)(logits, targ).numpy(), expected, rtol=1e-6)
    images, masks = logits.reshape(3, 20, 4).permute(0, 2, 1), targ.reshape(3, 20)  # classes on axis 1
    macro = skm.roc_auc_score(targ, probs, multi_class="ovr")
    assert run(RocAuc(axis=1), batches(images, masks, sizes=[1, 2])) == pytest.approx(macro, rel=1e-6)


def test_multiclass_auc_skips_absent_classes_with_a_warning():
    logits, targ = multiclass(7, c=4)
    keep = targ != 3
    logits, targ = logits[keep], targ[keep]
    probs = torch.softmax(logits.double(), -1)
    per_class = [skm.roc_auc_score(targ == c, probs[:, c]) for c in range(3)]
    with pytest.warns(UserWarning, match="undefined for 1 class"):
        assert RocAuc()(logits, targ) == pytest.approx(np.mean(per_class), rel=1e-6)
    with pytest.raises(ValueError, match=r"target labels must lie in \[0, 3\]"):
        RocAuc()(logits, targ + 2)
    with pytest.raises(ValueError, match="one score per class"):
        RocAuc()(logits[:, 0], targ)
    with pytest.raises(ValueError, match="multi_class"):
        RocAuc(multi_class="raise")
    with pytest.raises(ValueError, match="average"):
        RocAuc(average=None, multi_class="ovo")


@pytest.mark.parametrize("average", ["macro", "weighted", "micro", None])
def test_multilabel_auc_matches_sklearn(average):
    g = torch.Generator().manual_seed(8)
    targ = (torch.rand(50, 4, generator=g) > 0.5).float()
    logits = torch.randn(50, 4, generator=g) + targ
    expected = skm.roc_auc_score(targ, logits, average=average)
    got = run(RocAucMulti(average=average), batches(logits, targ))
    if average is None:
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)
    else:
        assert got == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        RocAucMulti()(logits, targ[:, 0])
