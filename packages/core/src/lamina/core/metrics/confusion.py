"""Classification scores computed from confusion counts that stream over batches.

Single-label metrics (`F1Score`, `FBeta`, `Precision`, `Recall`, `Jaccard`, `MatthewsCorrCoef`,
`BalancedAccuracy`, `CohenKappa`) add each batch to a confusion matrix, so memory does not grow
with the validation set. Multi-label metrics (`F1ScoreMulti`, ...) count per label. The scores
follow scikit-learn's definitions (`average`, `labels`, `pos_label`, `zero_division`), computed
in torch; they take raw model outputs: class scores are turned into labels with an argmax over
`axis` (single-label) or a threshold (multi-label).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from lamina.core.metrics.base import Metric, _first_target, _to_python

__all__ = [
    "F1Score",
    "FBeta",
    "Precision",
    "Recall",
    "Jaccard",
    "MatthewsCorrCoef",
    "BalancedAccuracy",
    "CohenKappa",
    "F1ScoreMulti",
    "FBetaMulti",
    "PrecisionMulti",
    "RecallMulti",
    "JaccardMulti",
]

Ratio = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


# ---- per-label formulas: (numerator, denominator) from true positives, false positives, false negatives


def _precision(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return tp, tp + fp


def _recall(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return tp, tp + fn


def _jaccard(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return tp, tp + fp + fn


def _fbeta(beta: float) -> Ratio:
    if not beta > 0:
        raise ValueError(f"FBeta: beta must be positive, got {beta}")
    b2 = beta * beta

    def ratio(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp

    return ratio


def _divide(num: torch.Tensor, den: torch.Tensor, zero_division: float) -> torch.Tensor:
    num, den = num.double(), den.double()
    return torch.where(den > 0, num / den.clamp_min(1e-300), torch.full_like(num, zero_division))


def _average(
    tp: torch.Tensor,
    fp: torch.Tensor,
    fn: torch.Tensor,
    support: torch.Tensor,
    ratio: Ratio,
    average: str | None,
    zero_division: float,
) -> Any:
    """Scores per label from counts, then averaged as scikit-learn does."""
    if tp.numel() == 0:
        return float(zero_division)
    if average == "micro":
        return _to_python(_divide(*ratio(tp.sum(), fp.sum(), fn.sum()), zero_division))
    scores = _divide(*ratio(tp, fp, fn), zero_division)
    if average is None:
        return scores
    keep = ~scores.isnan()
    if not keep.any():
        return float("nan")
    scores, weights = scores[keep], support[keep].double()
    if average == "weighted" and weights.sum() > 0:
        return _to_python((scores * weights).sum() / weights.sum())
    return _to_python(scores.mean())


def _check_zero_division(value: Any, metric: str) -> float:
    if value == "warn":
        return 0.0
    if isinstance(value, (int, float)) and (value in (0, 1) or value != value):
        return float(value)
    raise ValueError(f"{metric}: zero_division must be 0, 1, nan or 'warn', got {value!r}")


def _check_labels(labels: Sequence[int] | None, metric: str) -> list[int] | None:
    if labels is None:
        return None
    labels = [int(lbl) for lbl in labels]
    if not labels or min(labels) < 0:
        raise ValueError(
            f"{metric}: labels must be a non-empty list of non-negative class indices, got {labels}"
        )
    return labels


def _integer_labels(t: torch.Tensor, what: str, metric: str) -> torch.Tensor:
    if t.dtype == torch.bool:
        return t.long()
    if t.is_floating_point() or t.is_complex():
        if not torch.equal(t, t.round()):
            raise ValueError(
                f"{metric}: {what} must hold class indices, got non-integer values of type {t.dtype}"
            )
    t = t.long()
    if t.numel() and t.min() < 0:
        raise ValueError(f"{metric}: {what} must be non-negative class indices, found {int(t.min())}")
    return t


def _predicted_labels(
    pred: torch.Tensor, targ: torch.Tensor, axis: int = -1, metric: str = "metric"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat `(predicted, target)` class indices from class scores (argmax over `axis`) or indices.

    A floating `pred` holds scores, one per class along `axis`; an integer or bool `pred` already
    holds class indices. Errors name `metric` and the shapes involved.
    """
    if not isinstance(pred, torch.Tensor) or not isinstance(targ, torch.Tensor):
        raise TypeError(f"{metric}: prediction and target must be tensors")
    shape = tuple(pred.shape)
    if pred.is_floating_point():
        if pred.ndim == 0 or not -pred.ndim <= axis < pred.ndim:
            raise ValueError(f"{metric}: prediction of shape {shape} has no class axis {axis}")
        if pred.shape[axis] == 1:
            raise ValueError(
                f"{metric}: prediction of shape {shape} has one score along class axis {axis}, so the argmax "
                "is always 0; give one score per class (two for a binary task) or predicted class indices"
            )
        pred = pred.argmax(dim=axis)
    if pred.numel() != targ.numel():
        raise ValueError(
            f"{metric}: {pred.numel()} predictions for {targ.numel()} targets "
            f"(prediction shape {shape}, target shape {tuple(targ.shape)})"
        )
    return (
        _integer_labels(pred.reshape(-1), "predictions", metric),
        _integer_labels(targ.reshape(-1), "targets", metric),
    )


class _ConfusionMetric(Metric):
    """Streams a confusion matrix `cm[target, predicted]` that grows to the largest label seen."""

    def __init__(self, axis: int = -1) -> None:
        self.axis = axis
        self.reset()

    def reset(self) -> None:
        self.confusion: torch.Tensor | None = None

    def accumulate(self, learn: Any) -> None:
        pred, targ = _predicted_labels(learn.pred, _first_target(learn, self.name), self.axis, self.name)
        if pred.numel() == 0:
            return
        known = 0 if self.confusion is None else self.confusion.shape[0]
        n = max(known, int(torch.maximum(pred.max(), targ.max())) + 1)
        if isinstance(learn.pred, torch.Tensor) and learn.pred.is_floating_point():
            n = max(n, learn.pred.shape[self.axis])
        counts = torch.bincount(targ * n + pred, minlength=n * n).reshape(n, n)
        if self.confusion is None:
            self.confusion = counts
        else:
            grow = n - known
            self.confusion = F.pad(self.confusion.to(counts.device), (0, grow, 0, grow)) + counts

    def present(self) -> torch.Tensor:
        """The confusion matrix restricted to labels that occur as a target or a prediction."""
        cm = self.confusion
        seen = (cm.sum(0) + cm.sum(1)) > 0
        return cm[seen][:, seen]

    @property
    def value(self) -> Any:
        return None if self.confusion is None else self.score()

    def score(self) -> Any:
        raise NotImplementedError


class _SetScore(_ConfusionMetric):
    """Precision-like score for single-label classification, averaged over labels like scikit-learn."""

    _sk_name = ""
    _ratio: Ratio  # set by each score class

    def __init__(
        self,
        axis: int = -1,
        labels: Sequence[int] | None = None,
        pos_label: int = 1,
        average: str | None = "binary",
        zero_division: float | str = 0.0,
    ) -> None:
        if average not in ("binary", "micro", "macro", "weighted", None):
            raise ValueError(
                f"{self.name}: average must be 'binary', 'micro', 'macro', 'weighted' or None for "
                f"single-label targets, got {average!r} ('samples' is for the multi-label variants)"
            )
        self.ratio, self.average, self.pos_label = self._ratio, average, int(pos_label)
        self.labels = _check_labels(labels, self.name)
        self.zero_division = _check_zero_division(zero_division, self.name)
        super().__init__(axis)

    def _selected(self) -> list[int]:
        cm = self.confusion
        seen = ((cm.sum(0) + cm.sum(1)) > 0).nonzero().flatten().tolist()
        if self.average == "binary":
            if len(seen) > 2:
                raise ValueError(
                    f"{self.name}: the targets and predictions hold {len(seen)} classes {seen} but "
                    "average='binary'; choose average='micro', 'macro', 'weighted' or None"
                )
            if self.pos_label not in seen and len(seen) == 2:
                raise ValueError(
                    f"{self.name}: pos_label={self.pos_label} is not a valid label; labels seen: {seen}"
                )
            return [self.pos_label]
        return self.labels if self.labels is not None else seen

    def score(self) -> Any:
        cm = self.confusion
        selected = self._selected()
        n = cm.shape[0]
        if max(selected) >= n:
            cm = F.pad(cm, (0, max(selected) + 1 - n, 0, max(selected) + 1 - n))
        idx = torch.tensor(selected, device=cm.device)
        tp = cm.diagonal()[idx]
        fp = cm.sum(0)[idx] - tp
        fn = cm.sum(1)[idx] - tp
        return _average(tp, fp, fn, tp + fn, self.ratio, self.average, self.zero_division)

    @property
    def name(self) -> str:
        return self._sk_name


class FBeta(_SetScore):
    """F-beta score `(1+b²)·P·R / (b²·P + R)` of single-label predictions (scikit-learn's `fbeta_score`)."""

    _sk_name = "fbeta_score"

    def __init__(
        self,
        beta: float,
        axis: int = -1,
        labels: Sequence[int] | None = None,
        pos_label: int = 1,
        average: str | None = "binary",
        zero_division: float | str = 0.0,
    ) -> None:
        self.beta, self._ratio = beta, _fbeta(beta)
        super().__init__(axis, labels, pos_label, average, zero_division)


class F1Score(_SetScore):
    """F1 score, the harmonic mean of precision and recall (scikit-learn's `f1_score`)."""

    _sk_name = "f1_score"
    _ratio = staticmethod(_fbeta(1.0))


class Precision(_SetScore):
    """Precision `tp / (tp + fp)` (scikit-learn's `precision_score`)."""

    _sk_name = "precision_score"
    _ratio = staticmethod(_precision)


class Recall(_SetScore):
    """Recall `tp / (tp + fn)` (scikit-learn's `recall_score`)."""

    _sk_name = "recall_score"
    _ratio = staticmethod(_recall)


class Jaccard(_SetScore):
    """Jaccard index `tp / (tp + fp + fn)` (scikit-learn's `jaccard_score`)."""

    _sk_name = "jaccard_score"
    _ratio = staticmethod(_jaccard)


class MatthewsCorrCoef(_ConfusionMetric):
    """Matthews correlation coefficient, multi-class form (scikit-learn's `matthews_corrcoef`).

    0 when either the predictions or the targets hold a single class.
    """

    def score(self) -> float:
        cm = self.confusion.double()
        n = cm.sum()
        t_sum, p_sum = cm.sum(1), cm.sum(0)
        cov_tp = cm.trace() * n - t_sum @ p_sum
        cov_pp = n * n - p_sum @ p_sum
        cov_tt = n * n - t_sum @ t_sum
        if cov_pp * cov_tt == 0:
            return 0.0
        return _to_python(cov_tp / (cov_tt * cov_pp).sqrt())

    @property
    def name(self) -> str:
        return "matthews_corrcoef"


class BalancedAccuracy(_ConfusionMetric):
    """Mean recall over the classes present in the targets (scikit-learn's `balanced_accuracy_score`).

    `adjusted=True` rescales so that chance level scores 0 and a perfect model 1.
    """

    def __init__(self, axis: int = -1, adjusted: bool = False) -> None:
        self.adjusted = adjusted
        super().__init__(axis)

    def score(self) -> float:
        cm = self.present().double()
        support = cm.sum(1)
        recall = cm.diagonal()[support > 0] / support[support > 0]
        result = recall.mean()
        if self.adjusted:
            chance = 1 / recall.numel()
            result = (result - chance) / (1 - chance)
        return _to_python(result)

    @property
    def name(self) -> str:
        return "balanced_accuracy_score"


class CohenKappa(_ConfusionMetric):
    """Cohen's kappa between predictions and targets (scikit-learn's `cohen_kappa_score`).

    `weights` None counts every disagreement alike; 'linear' or 'quadratic' weigh it by the
    distance between the two classes' positions among the labels seen. NaN when undefined.
    """

    def __init__(self, axis: int = -1, weights: str | None = None) -> None:
        if weights not in (None, "linear", "quadratic"):
            raise ValueError(f"CohenKappa: weights must be None, 'linear' or 'quadratic', got {weights!r}")
        self.weights = weights
        super().__init__(axis)

    def score(self) -> float:
        cm = self.present().double()
        k = cm.shape[0]
        expected = torch.outer(cm.sum(1), cm.sum(0)) / cm.sum()
        pos = torch.arange(k, dtype=torch.float64, device=cm.device)
        dist = (pos[:, None] - pos[None, :]).abs()
        w = {None: (dist > 0).double(), "linear": dist, "quadratic": dist**2}[self.weights]
        den = (w * expected).sum()
        if den == 0:
            return float("nan")
        return _to_python(1 - (w * cm).sum() / den)

    @property
    def name(self) -> str:
        return "cohen_kappa_score"


class _MultiLabelScore(Metric):
    """Precision-like score for multi-label targets: counts per label, and per sample for 'samples'."""

    _sk_name = ""
    _ratio: Ratio  # set by each score class

    def __init__(
        self,
        thresh: float = 0.5,
        sigmoid: bool = True,
        labels: Sequence[int] | None = None,
        average: str | None = "micro",
        zero_division: float | str = 0.0,
    ) -> None:
        if average not in ("micro", "macro", "weighted", "samples", None):
            raise ValueError(
                f"{self.name}: average must be 'micro', 'macro', 'weighted', 'samples' or None for "
                f"multi-label targets, got {average!r}"
            )
        self.ratio, self.thresh, self.sigmoid, self.average = self._ratio, thresh, sigmoid, average
        self.labels = _check_labels(labels, self.name)
        self.zero_division = _check_zero_division(zero_division, self.name)
        self.reset()

    def reset(self) -> None:
        self.counts: torch.Tensor | None = None  # rows: tp, fp, fn per label
        self.sample_total: Any = 0.0
        self.n_samples = 0

    def accumulate(self, learn: Any) -> None:
        pred, targ = learn.pred, _first_target(learn, self.name)
        if not isinstance(pred, torch.Tensor) or not isinstance(targ, torch.Tensor):
            raise TypeError(f"{self.name}: prediction and target must be tensors")
        if pred.shape != targ.shape or pred.ndim < 2:
            raise ValueError(
                f"{self.name}: multi-label prediction and target must have the same shape (items, labels), "
                f"got prediction {tuple(pred.shape)} and target {tuple(targ.shape)}"
            )
        if pred.is_floating_point():
            pred = (pred.sigmoid() if self.sigmoid else pred) >= self.thresh
        pred, targ = pred.reshape(-1, pred.shape[-1]).bool(), targ.reshape(-1, targ.shape[-1]).bool()
        if self.labels is not None:
            if max(self.labels) >= pred.shape[1]:
                raise ValueError(
                    f"{self.name}: labels {self.labels} but the targets have {pred.shape[1]} labels"
                )
            idx = torch.tensor(self.labels, device=pred.device)
            pred, targ = pred[:, idx], targ[:, idx]
        tp, fp, fn = (pred & targ), (pred & ~targ), (~pred & targ)
        counts = torch.stack([tp.sum(0), fp.sum(0), fn.sum(0)])
        self.counts = counts if self.counts is None else self.counts + counts.to(self.counts.device)
        if self.average == "samples":
            per_sample = _divide(*self.ratio(tp.sum(1), fp.sum(1), fn.sum(1)), self.zero_division)
            self.sample_total = self.sample_total + per_sample.nansum()
            self.n_samples += int((~per_sample.isnan()).sum())

    @property
    def value(self) -> Any:
        if self.counts is None:
            return None
        if self.average == "samples":
            return float("nan") if self.n_samples == 0 else _to_python(self.sample_total / self.n_samples)
        tp, fp, fn = self.counts
        return _average(tp, fp, fn, tp + fn, self.ratio, self.average, self.zero_division)

    @property
    def name(self) -> str:
        return self._sk_name


class FBetaMulti(_MultiLabelScore):
    """F-beta score of multi-label predictions thresholded at `thresh` (after a sigmoid if `sigmoid`)."""

    _sk_name = "fbeta_score"

    def __init__(
        self,
        beta: float,
        thresh: float = 0.5,
        sigmoid: bool = True,
        labels: Sequence[int] | None = None,
        average: str | None = "micro",
        zero_division: float | str = 0.0,
    ) -> None:
        self.beta, self._ratio = beta, _fbeta(beta)
        super().__init__(thresh, sigmoid, labels, average, zero_division)


class F1ScoreMulti(_MultiLabelScore):
    """F1 score of multi-label predictions thresholded at `thresh` (after a sigmoid if `sigmoid`)."""

    _sk_name = "f1_score"
    _ratio = staticmethod(_fbeta(1.0))


class PrecisionMulti(_MultiLabelScore):
    """Precision of multi-label predictions thresholded at `thresh` (after a sigmoid if `sigmoid`)."""

    _sk_name = "precision_score"
    _ratio = staticmethod(_precision)


class RecallMulti(_MultiLabelScore):
    """Recall of multi-label predictions thresholded at `thresh` (after a sigmoid if `sigmoid`)."""

    _sk_name = "recall_score"
    _ratio = staticmethod(_recall)


class JaccardMulti(_MultiLabelScore):
    """Jaccard index of multi-label predictions thresholded at `thresh` (after a sigmoid if `sigmoid`)."""

    _sk_name = "jaccard_score"
    _ratio = staticmethod(_jaccard)
