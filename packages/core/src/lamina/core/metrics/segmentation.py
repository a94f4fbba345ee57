"""Segmentation metrics. Dice and Jaccard add up intersections and unions over the whole
validation set (not a mean of per-batch scores); the sums stay on the prediction's device."""

from __future__ import annotations

from typing import Any

import torch

from lamina.core.metrics.base import Metric, _first_target, _to_python, flatten_check
from lamina.core.metrics.classification import _argmax_labels, _check_scores

__all__ = ["foreground_acc", "Dice", "DiceMulti", "JaccardCoeff", "JaccardCoeffMulti"]


def foreground_acc(inp: torch.Tensor, targ: torch.Tensor, bkg_idx: int = 0, axis: int = 1) -> torch.Tensor:
    """Pixel accuracy over the pixels whose target is not the background class `bkg_idx`."""
    pred, targ = _argmax_labels("foreground_acc", inp, targ, axis)
    mask = targ != bkg_idx
    return (pred[mask] == targ[mask]).float().mean()


def _mask_labels(metric: Metric, learn: Any, axis: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Flat predicted and target class indices of a batch of masks, and the number of classes."""
    pred, targ = learn.pred, _first_target(learn, metric.name)
    _check_scores(metric.name, pred, axis)
    n_classes = pred.shape[axis]
    labels, targ = flatten_check(pred.argmax(dim=axis), targ, metric.name)
    targ = targ.long()
    if targ.numel() and bool(((targ < 0) | (targ >= n_classes)).any()):
        bad = targ[(targ < 0) | (targ >= n_classes)][0]
        raise ValueError(
            f"{metric.name}: target mask holds class {int(bad)} but the prediction has {n_classes} classes "
            f"along axis {axis}"
        )
    return labels, targ, n_classes


class _OverlapBinary(Metric):
    """Intersection and union of the foreground (class 1) of two-class masks."""

    def __init__(self, axis: int = 1) -> None:
        self.axis = axis
        self.reset()

    def reset(self) -> None:
        self.inter: Any = 0
        self.union: Any = 0

    def accumulate(self, learn: Any) -> None:
        pred = learn.pred
        _check_scores(self.name, pred, self.axis)
        if pred.shape[self.axis] != 2:
            raise ValueError(
                f"{self.name}: needs two class scores (background, foreground) along axis {self.axis}, got "
                f"{pred.shape[self.axis]}; use {type(self).__name__}Multi for more classes"
            )
        labels, targ, _ = _mask_labels(self, learn, self.axis)
        self.inter = self.inter + (labels * targ).sum()
        self.union = self.union + (labels + targ).sum()

    def _counts(self) -> tuple[float, float]:
        return float(self.inter), float(self.union)


class Dice(_OverlapBinary):
    """Dice coefficient `2·|P∩T| / (|P| + |T|)` of the foreground of two-class masks."""

    @property
    def value(self) -> float | None:
        inter, union = self._counts()
        return 2.0 * inter / union if union > 0 else None


class JaccardCoeff(_OverlapBinary):
    """Jaccard coefficient (IoU) `|P∩T| / |P∪T|` of the foreground of two-class masks."""

    @property
    def value(self) -> float | None:
        inter, union = self._counts()
        return inter / (union - inter) if union > 0 else None


class _OverlapMulti(Metric):
    """Intersection and union per class of multi-class masks."""

    def __init__(self, axis: int = 1) -> None:
        self.axis = axis
        self.reset()

    def reset(self) -> None:
        self.inter: torch.Tensor | None = None
        self.union: torch.Tensor | None = None

    def accumulate(self, learn: Any) -> None:
        labels, targ, n = _mask_labels(self, learn, self.axis)
        inter = torch.bincount(labels[labels == targ], minlength=n)
        union = torch.bincount(labels, minlength=n) + torch.bincount(targ, minlength=n)
        if self.inter is None:
            self.inter, self.union = inter, union
        else:
            if inter.numel() != self.inter.numel():
                raise ValueError(
                    f"{self.name}: batches have {self.inter.numel()} and {inter.numel()} classes"
                )
            self.inter, self.union = self.inter + inter, self.union + union

    def _mean_over_classes(self, per_class: torch.Tensor) -> float | None:
        """Mean over the classes present in a prediction or a target (others are undefined)."""
        present = self.union > 0
        if not present.any():
            return None
        return _to_python(per_class[present].mean())


class DiceMulti(_OverlapMulti):
    """Mean over classes of the per-class Dice coefficient, each class summed over the whole set."""

    @property
    def value(self) -> float | None:
        if self.inter is None:
            return None
        inter, union = self.inter.double(), self.union.double()
        return self._mean_over_classes(2 * inter / union.clamp_min(1))


class JaccardCoeffMulti(_OverlapMulti):
    """Mean over classes of the per-class Jaccard coefficient (IoU), each summed over the whole set."""

    @property
    def value(self) -> float | None:
        if self.inter is None:
            return None
        inter, union = self.inter.double(), self.union.double()
        return self._mean_over_classes(inter / (union - inter).clamp_min(1))
