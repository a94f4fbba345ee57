"""Metrics on an accelerator give the CPU's values (skipped where there is no CUDA device)."""

import math
from types import SimpleNamespace

import pytest
import torch

import lamina.core.metrics as M

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

SIZES = [9, 1, 20, 13, 7]


def run(metric, pairs, losses=None):
    metric.reset()
    for i, (pred, targ) in enumerate(pairs):
        loss = None if losses is None else losses[i]
        metric.accumulate(SimpleNamespace(pred=pred, yb=(targ,), xb=(), loss=loss, loss_func=None))
    return metric.value


def on(device, *tensors):
    return list(zip(*[t.to(device).split(SIZES) for t in tensors]))


def same(a, b):
    if isinstance(a, torch.Tensor):
        return torch.allclose(a.cpu().double(), b.cpu().double(), atol=1e-6, equal_nan=True)
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6) or (math.isnan(a) and math.isnan(b))


def test_metrics_on_cuda_match_cpu():
    g = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(50, 4, generator=g), torch.randint(0, 4, (50,), generator=g)
    bin_logits, bin_labels = torch.randn(50, 2, generator=g), torch.randint(0, 2, (50,), generator=g)
    ml_logits, ml_targ = torch.randn(50, 5, generator=g), (torch.rand(50, 5, generator=g) > 0.5).float()
    reg_pred, reg_targ = torch.rand(50, generator=g), torch.rand(50, generator=g)
    seg_logits, seg_targ = torch.randn(50, 3, 4, 4, generator=g), torch.randint(0, 3, (50, 4, 4), generator=g)
    bseg_logits, bseg_targ = (
        torch.randn(50, 2, 4, 4, generator=g),
        torch.randint(0, 2, (50, 4, 4), generator=g),
    )
    losses = torch.rand(5, generator=g)
    cases = [
        (lambda: M.AvgMetric(M.accuracy), (logits, labels)),
        (lambda: M.AvgMetric(M.top_k_accuracy), (torch.randn(50, 8, generator=g), labels)),
        (lambda: M.AvgMetric(M.accuracy_multi), (ml_logits, ml_targ)),
        (lambda: M.F1Score(average="macro"), (logits, labels)),
        (lambda: M.Precision(average=None), (logits, labels)),
        (lambda: M.Recall(), (bin_logits, bin_labels)),
        (lambda: M.MatthewsCorrCoef(), (logits, labels)),
        (lambda: M.CohenKappa(weights="quadratic"), (logits, labels)),
        (lambda: M.BalancedAccuracy(), (logits, labels)),
        (lambda: M.F1ScoreMulti(average="samples"), (ml_logits, ml_targ)),
        (lambda: M.RocAuc(), (logits, labels)),
        (lambda: M.RocAucBinary(), (bin_logits, bin_labels)),
        (lambda: M.RocAucMulti(), (ml_logits, ml_targ)),
        (lambda: M.AvgMetric(M.mse), (reg_pred, reg_targ)),
        (lambda: M.rmse, (reg_pred, reg_targ)),
        (lambda: M.R2Score(), (reg_pred, reg_targ)),
        (lambda: M.Dice(), (bseg_logits, bseg_targ)),
        (lambda: M.JaccardCoeff(), (bseg_logits, bseg_targ)),
        (lambda: M.DiceMulti(), (seg_logits, seg_targ)),
        (lambda: M.F1Score(axis=1, average="macro"), (seg_logits, seg_targ)),
    ]
    for make, tensors in cases:
        cpu, gpu = run(make(), on("cpu", *tensors)), run(make(), on("cuda", *tensors))
        assert same(cpu, gpu), (make(), cpu, gpu)
    for make in (M.AvgLoss, M.AvgSmoothLoss, M.Perplexity):
        cpu = run(make(), on("cpu", logits, labels), losses)
        gpu = run(make(), on("cuda", logits, labels), losses.cuda())
        assert same(cpu, gpu), (make(), cpu, gpu)
