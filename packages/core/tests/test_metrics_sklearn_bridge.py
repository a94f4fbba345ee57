"""skm_to_lamina: scikit-learn metrics used through the accumulate protocol."""

import sys
from types import SimpleNamespace

import pytest
import torch
from sklearn import metrics as skm

from lamina.core.metrics import AccumMetric, skm_to_lamina


def run(metric, pairs):
    metric.reset()
    for pred, targ in pairs:
        metric.accumulate(SimpleNamespace(pred=pred, yb=(targ,), xb=(), loss=None, loss_func=None))
    return metric.value


def test_classification_metric_by_function_and_by_name():
    g = torch.Generator().manual_seed(0)
    logits, targ = torch.randn(40, 3, generator=g), torch.randint(0, 3, (40,), generator=g)
    pairs = list(zip(logits.split([5, 30, 5]), targ.split([5, 30, 5])))
    expected = skm.balanced_accuracy_score(targ.numpy(), logits.argmax(-1).numpy())
    for func in (skm.balanced_accuracy_score, "balanced_accuracy_score"):
        metric = skm_to_lamina(func)
        assert isinstance(metric, AccumMetric) and metric.name == "balanced_accuracy_score"
        assert run(metric, pairs) == pytest.approx(expected)
    f1 = skm_to_lamina(skm.f1_score, average="macro")
    assert run(f1, pairs) == pytest.approx(
        skm.f1_score(targ.numpy(), logits.argmax(-1).numpy(), average="macro")
    )


def test_multilabel_with_threshold_and_regression():
    g = torch.Generator().manual_seed(1)
    logits, targ = torch.randn(30, 4, generator=g), (torch.rand(30, 4, generator=g) > 0.5).long()
    metric = skm_to_lamina(skm.f1_score, thresh=0.4, flatten=False, average="samples")
    pairs = list(zip(logits.split([10, 20]), targ.split([10, 20])))
    expected = skm.f1_score(targ.numpy(), (torch.sigmoid(logits) >= 0.4).numpy(), average="samples")
    assert run(metric, pairs) == pytest.approx(expected)
    pred, y = torch.randn(30, generator=g), torch.randn(30, generator=g)
    r2 = skm_to_lamina(skm.r2_score, is_class=False)
    assert run(r2, list(zip(pred.split([7, 23]), y.split([7, 23])))) == pytest.approx(skm.r2_score(y, pred))


def test_clear_errors(monkeypatch):
    with pytest.raises(ValueError, match="sklearn.metrics has no metric function named 'f2_score'"):
        skm_to_lamina("f2_score")
    with pytest.raises(TypeError, match="expects a metric function or its name"):
        skm_to_lamina(3)
    monkeypatch.setitem(sys.modules, "sklearn.metrics", None)  # as if scikit-learn were not installed
    with pytest.raises(ImportError, match="needs scikit-learn, which is not installed"):
        skm_to_lamina("f1_score")


def test_importing_lamina_metrics_does_not_import_sklearn():
    import subprocess

    code = "import sys, lamina.core.metrics; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
