"""Use any scikit-learn metric as a Lamina metric. scikit-learn is imported only when needed."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from lamina.core.metrics.base import AccumMetric, ActivationType

__all__ = ["skm_to_lamina"]


def _sklearn_metric(name: str) -> Callable:
    try:
        sk_metrics = importlib.import_module("sklearn.metrics")
    except ImportError as e:
        raise ImportError(
            f"skm_to_lamina({name!r}) needs scikit-learn, which is not installed: pip install scikit-learn"
        ) from e
    func = getattr(sk_metrics, name, None)
    if not callable(func):
        raise ValueError(f"skm_to_lamina: sklearn.metrics has no metric function named {name!r}")
    return func


def skm_to_lamina(
    func: Callable | str,
    is_class: bool = True,
    thresh: float | None = None,
    axis: int = -1,
    activation: str | None = None,
    **kwargs: Any,
) -> AccumMetric:
    """Wrap the scikit-learn metric `func` (a function, or its name in `sklearn.metrics`).

    The result stores every prediction and target of the validation pass and calls
    `func(targets, predictions, **kwargs)` on numpy arrays. For a classification metric
    (`is_class`) the predictions are the argmax over `axis`, or, when `thresh` is given,
    `sigmoid(pred) >= thresh` (multi-label). `activation` overrides the activation.
    """
    if isinstance(func, str):
        func = _sklearn_metric(func)
    elif not callable(func):
        raise TypeError(f"skm_to_lamina expects a metric function or its name, got {type(func).__name__}")
    dim_argmax = axis if is_class and thresh is None else None
    if activation is None:
        activation = ActivationType.Sigmoid if is_class and thresh is not None else ActivationType.No
    return AccumMetric(
        func,
        dim_argmax=dim_argmax,
        activation=activation,
        thresh=thresh,
        to_np=True,
        invert_arg=True,
        **kwargs,
    )
