"""Area under the ROC curve, computed in torch over the whole validation set.

`RocAucBinary` scores a two-class task, `RocAuc` a multi-class one (one-vs-rest or one-vs-one,
on softmax probabilities) and `RocAucMulti` a multi-label one. They follow scikit-learn's
`roc_auc_score`, except that a class whose AUC is undefined (no positive or no negative item)
is left out of the average with a warning instead of raising.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import torch

from lamina.core.metrics.base import AccumMetric, ActivationType, _first_target, _to_python

__all__ = ["RocAuc", "RocAucBinary", "RocAucMulti", "roc_curve", "roc_auc_binary"]


def roc_curve(scores: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """False and true positive rates at every distinct score threshold, from (0, 0) to (1, 1).

    `targets` are 0/1 (or bool); both classes must be present.
    """
    scores, targets = scores.reshape(-1).double(), targets.reshape(-1).double()
    order = torch.argsort(scores, descending=True, stable=True)
    scores, targets = scores[order], targets[order]
    last_of_run = torch.ones_like(scores, dtype=torch.bool)
    last_of_run[:-1] = scores[1:] != scores[:-1]
    tps = targets.cumsum(0)[last_of_run]
    fps = (torch.arange(1, scores.numel() + 1, dtype=torch.float64, device=scores.device))[last_of_run] - tps
    zero = torch.zeros(1, dtype=torch.float64, device=scores.device)
    return torch.cat([zero, fps / fps[-1]]), torch.cat([zero, tps / tps[-1]])


def roc_auc_binary(scores: torch.Tensor, targets: torch.Tensor, max_fpr: float | None = None) -> float:
    """ROC AUC of 0/1 `targets` ranked by `scores`; NaN (with a warning) if one class is missing.

    `max_fpr` gives the standardised partial AUC up to that false positive rate (McClish correction).
    """
    targets = targets.reshape(-1)
    n_pos = int((targets != 0).sum())
    if n_pos == 0 or n_pos == targets.numel():
        warnings.warn(
            "ROC AUC is undefined when the targets hold a single class; returning nan", stacklevel=3
        )
        return float("nan")
    fpr, tpr = roc_curve(scores, targets != 0)
    if max_fpr is None or max_fpr == 1:
        return _to_python(torch.trapezoid(tpr, fpr))
    stop = int(torch.searchsorted(fpr, torch.tensor(max_fpr, dtype=fpr.dtype), right=True))
    x0, x1, y0, y1 = fpr[stop - 1], fpr[stop], tpr[stop - 1], tpr[stop]
    tpr_at_max = y0 + (y1 - y0) * (max_fpr - x0) / (x1 - x0)
    fpr = torch.cat([fpr[:stop], fpr.new_tensor([max_fpr])])
    tpr = torch.cat([tpr[:stop], tpr_at_max.reshape(1)])
    partial = torch.trapezoid(tpr, fpr)
    min_area, max_area = 0.5 * max_fpr**2, max_fpr
    return _to_python(0.5 * (1 + (partial - min_area) / (max_area - min_area)))


def _quiet_auc(scores: torch.Tensor, targets: torch.Tensor) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return roc_auc_binary(scores, targets)


def _average_aucs(aucs: torch.Tensor, weights: torch.Tensor, average: str | None, metric: str) -> Any:
    if average is None:
        return aucs
    defined = ~aucs.isnan()
    if not defined.all():
        warnings.warn(
            f"{metric}: ROC AUC is undefined for {int((~defined).sum())} class(es) with no positive or no "
            "negative item; they are left out of the average",
            stacklevel=4,
        )
    if not defined.any():
        return float("nan")
    aucs, weights = aucs[defined], weights[defined].double()
    if average == "weighted" and weights.sum() > 0:
        return _to_python((aucs * weights).sum() / weights.sum())
    return _to_python(aucs.mean())


def _check_max_fpr(max_fpr: float | None) -> None:
    if max_fpr is not None and not 0 < max_fpr <= 1:
        raise ValueError(f"max_fpr must be in (0, 1], got {max_fpr}")


class RocAucBinary(AccumMetric):
    """ROC AUC for a two-class task.

    The prediction holds one score per item (same shape as the targets; logits or probabilities,
    since only the ranking matters), or two class scores along `axis` (scored by the softmax
    probability of class 1). Multi-label targets of the prediction's shape are pooled.
    """

    def __init__(self, axis: int = -1, max_fpr: float | None = None) -> None:
        _check_max_fpr(max_fpr)
        self.axis, self.max_fpr = axis, max_fpr
        super().__init__(self._auc, name="roc_auc_score")

    def accumulate(self, learn: Any) -> None:
        pred, targ = learn.pred, _first_target(learn, self.name)
        if not isinstance(pred, torch.Tensor) or not isinstance(targ, torch.Tensor):
            raise TypeError(f"{self.name}: prediction and target must be tensors")
        if pred.shape != targ.shape:
            if pred.ndim != targ.ndim + 1 or pred.shape[self.axis] not in (1, 2):
                raise ValueError(
                    f"{self.name}: prediction of shape {tuple(pred.shape)} for targets of shape "
                    f"{tuple(targ.shape)}: give one score per target, or two class scores along axis "
                    f"{self.axis} (use RocAuc for more classes)"
                )
            pred = (
                pred.select(self.axis, 0) if pred.shape[self.axis] == 1 else pred.float().softmax(self.axis)
            )
            if pred.ndim > targ.ndim:
                pred = pred.select(self.axis, 1)
        self.accumulate_values(pred, targ)

    def _auc(self, preds: torch.Tensor, targs: torch.Tensor) -> float:
        return roc_auc_binary(preds, targs, self.max_fpr)


class RocAuc(AccumMetric):
    """Multi-class ROC AUC on softmax probabilities along `axis`.

    `multi_class='ovr'` averages each class against the rest, `'ovo'` averages every pair of
    classes (Hand & Till). `average` is 'macro' (plain mean), 'weighted' (by class prevalence)
    or None (one AUC per class, 'ovr' only).
    """

    def __init__(self, axis: int = -1, average: str | None = "macro", multi_class: str = "ovr") -> None:
        if multi_class not in ("ovr", "ovo"):
            raise ValueError(f"RocAuc: multi_class must be 'ovr' or 'ovo', got {multi_class!r}")
        if average not in ("macro", "weighted") and not (average is None and multi_class == "ovr"):
            raise ValueError(
                f"RocAuc: average must be 'macro' or 'weighted' (or None with 'ovr'), got {average!r}"
            )
        self.axis, self.average, self.multi_class = axis, average, multi_class
        super().__init__(
            self._auc, dim_argmax=axis, activation=ActivationType.Softmax, flatten=False, name="roc_auc_score"
        )

    def accumulate(self, learn: Any) -> None:
        pred, targ = learn.pred, _first_target(learn, self.name)
        if not isinstance(pred, torch.Tensor) or not isinstance(targ, torch.Tensor):
            raise TypeError(f"{self.name}: prediction and target must be tensors")
        if pred.ndim != targ.ndim + 1 or pred.numel() != targ.numel() * pred.shape[self.axis]:
            raise ValueError(
                f"{self.name}: prediction of shape {tuple(pred.shape)} for targets of shape "
                f"{tuple(targ.shape)}: expected one score per class along axis {self.axis} for each target"
            )
        probs = self.activate(pred.float())
        probs = probs.movedim(self.axis, -1).reshape(-1, pred.shape[self.axis])
        self.accumulate_values(probs, targ.reshape(-1))

    def _auc(self, probs: torch.Tensor, targs: torch.Tensor) -> Any:
        n_classes = probs.shape[1]
        targs = targs.long()
        if targs.numel() and (targs.min() < 0 or targs.max() >= n_classes):
            raise ValueError(
                f"{self.name}: target labels must lie in [0, {n_classes - 1}] (one column per class)"
            )
        prevalence = torch.bincount(targs, minlength=n_classes).double()
        if self.multi_class == "ovr":
            aucs = torch.tensor([_quiet_auc(probs[:, c], targs == c) for c in range(n_classes)])
            return _average_aucs(aucs, prevalence, self.average, self.name)
        present = (prevalence > 0).nonzero().flatten().tolist()
        pair_aucs, pair_weights = [], []
        for a, b in itertools.combinations(present, 2):
            mask = (targs == a) | (targs == b)
            auc_a = _quiet_auc(probs[mask, a], targs[mask] == a)
            auc_b = _quiet_auc(probs[mask, b], targs[mask] == b)
            pair_aucs.append((auc_a + auc_b) / 2)
            pair_weights.append(float(mask.double().mean()))
        if not pair_aucs:
            warnings.warn(
                f"{self.name}: ROC AUC needs targets of two classes at least; returning nan", stacklevel=3
            )
            return float("nan")
        return _average_aucs(torch.tensor(pair_aucs), torch.tensor(pair_weights), self.average, self.name)


class RocAucMulti(AccumMetric):
    """ROC AUC for multi-label targets (items, labels) of 0/1, one AUC per label.

    `average`: 'macro' (mean over labels), 'weighted' (by positives per label), 'micro' (all
    (item, label) pairs pooled) or None (one AUC per label). `sigmoid` does not change the AUC;
    it is kept for symmetry with the other multi-label metrics.
    """

    def __init__(self, sigmoid: bool = True, average: str | None = "macro") -> None:
        if average not in ("macro", "weighted", "micro", None):
            raise ValueError(
                f"RocAucMulti: average must be 'macro', 'weighted', 'micro' or None, got {average!r}"
            )
        self.average = average
        activation = ActivationType.Sigmoid if sigmoid else ActivationType.No
        super().__init__(self._auc, activation=activation, flatten=False, name="roc_auc_score")

    def accumulate(self, learn: Any) -> None:
        pred, targ = learn.pred, _first_target(learn, self.name)
        if not isinstance(pred, torch.Tensor) or not isinstance(targ, torch.Tensor):
            raise TypeError(f"{self.name}: prediction and target must be tensors")
        if pred.shape != targ.shape or pred.ndim < 2:
            raise ValueError(
                f"{self.name}: multi-label prediction and target must have the same shape (items, labels), "
                f"got prediction {tuple(pred.shape)} and target {tuple(targ.shape)}"
            )
        pred = self.activate(pred.float())
        self.accumulate_values(pred.reshape(-1, pred.shape[-1]), targ.reshape(-1, targ.shape[-1]))

    def _auc(self, scores: torch.Tensor, targs: torch.Tensor) -> Any:
        targs = targs != 0
        if self.average == "micro":
            return roc_auc_binary(scores, targs)
        aucs = torch.tensor([_quiet_auc(scores[:, c], targs[:, c]) for c in range(scores.shape[1])])
        return _average_aucs(aucs, targs.sum(0), self.average, self.name)
