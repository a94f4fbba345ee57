"""Per-item classification metrics, written as functions `f(pred, targ)` (averaged by `AvgMetric`)."""

from __future__ import annotations

import torch

from lamina.core.metrics.base import flatten_check

__all__ = ["accuracy", "error_rate", "top_k_accuracy", "accuracy_multi"]


def _check_scores(name: str, inp: torch.Tensor, axis: int) -> None:
    """`inp` must be a tensor of class scores with a class dimension `axis`."""
    if not isinstance(inp, torch.Tensor):
        raise TypeError(f"{name}: the prediction must be a tensor of class scores, got {type(inp).__name__}")
    if inp.ndim == 0 or not -inp.ndim <= axis < inp.ndim:
        raise ValueError(f"{name}: prediction of shape {tuple(inp.shape)} has no class axis {axis}")


def _argmax_labels(name: str, inp: torch.Tensor, targ: torch.Tensor, axis: int) -> tuple[torch.Tensor, ...]:
    _check_scores(name, inp, axis)
    if not isinstance(targ, torch.Tensor):
        raise TypeError(f"{name}: the target must be a tensor, got {type(targ).__name__}")
    pred = inp.argmax(dim=axis)
    if pred.numel() != targ.numel():
        raise ValueError(
            f"{name}: {pred.numel()} predictions for {targ.numel()} targets (prediction shape "
            f"{tuple(inp.shape)} with classes along axis {axis}, target shape {tuple(targ.shape)})"
        )
    return pred.reshape(-1), targ.reshape(-1)


def accuracy(inp: torch.Tensor, targ: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """Fraction of items whose highest-scoring class (along `axis`) equals the target."""
    pred, targ = _argmax_labels("accuracy", inp, targ, axis)
    return (pred == targ).float().mean()


def error_rate(inp: torch.Tensor, targ: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """`1 - accuracy`."""
    pred, targ = _argmax_labels("error_rate", inp, targ, axis)
    return (pred != targ).float().mean()


def top_k_accuracy(inp: torch.Tensor, targ: torch.Tensor, k: int = 5, axis: int = -1) -> torch.Tensor:
    """Fraction of items whose target is among the `k` highest-scoring classes along `axis`."""
    _check_scores("top_k_accuracy", inp, axis)
    n_classes = inp.shape[axis]
    if not 1 <= k <= n_classes:
        raise ValueError(
            f"top_k_accuracy: k={k} but the prediction has {n_classes} classes along axis {axis}"
        )
    if targ.numel() * n_classes != inp.numel():
        raise ValueError(
            f"top_k_accuracy: {inp.numel() // n_classes} predictions for {targ.numel()} targets "
            f"(prediction shape {tuple(inp.shape)}, target shape {tuple(targ.shape)})"
        )
    top = inp.topk(k, dim=axis).indices
    targ = targ.reshape(top.shape[: axis % inp.ndim] + (1,) + top.shape[axis % inp.ndim + 1 :])
    return (top == targ).any(dim=axis).float().mean()


def accuracy_multi(
    inp: torch.Tensor, targ: torch.Tensor, thresh: float = 0.5, sigmoid: bool = True
) -> torch.Tensor:
    """Multi-label accuracy: fraction of (item, label) pairs where `score > thresh` matches the target.

    `sigmoid=True` turns logits into probabilities first.
    """
    inp, targ = flatten_check(inp, targ, "accuracy_multi")
    if sigmoid:
        inp = inp.sigmoid()
    return ((inp > thresh) == targ.bool()).float().mean()
