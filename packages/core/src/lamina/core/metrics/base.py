"""The metric protocol the Learner drives, and the generic metrics built on it.

During validation the Learner calls `reset()` once, `accumulate(learn)` after every batch (with
`learn.pred`, `learn.yb`, `learn.loss`, `learn.xb` and `learn.loss_func` set) and reads `value`
and `name` at the end. `mk_metric` turns a plain function `f(pred, targ)` into an `AvgMetric`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = [
    "Metric",
    "AvgMetric",
    "AvgLoss",
    "AvgSmoothLoss",
    "AccumMetric",
    "ActivationType",
    "mk_metric",
    "flatten_check",
]


def _camel_to_snake(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _func_name(func: Callable) -> str:
    while isinstance(func, functools.partial):
        func = func.func
    name = getattr(func, "__name__", None)
    return name if name is not None else _camel_to_snake(type(func).__name__)


def _to_python(value: Any) -> Any:
    """A one-element tensor or numpy scalar becomes a Python number; anything else is kept."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, np.ndarray) and value.size == 1:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _batch_size(yb: Any, metric: str) -> int:
    """Items in the batch: the length of the first target tensor."""
    first = yb
    while isinstance(first, (tuple, list)):
        if len(first) == 0:
            raise ValueError(f"{metric}: learn.yb holds no target, so the batch size is unknown")
        first = first[0]
    if not isinstance(first, torch.Tensor) or first.ndim == 0:
        raise ValueError(
            f"{metric}: the first target must be a tensor with a batch dimension, got {type(first).__name__}"
            + (" of shape ()" if isinstance(first, torch.Tensor) else "")
        )
    return first.shape[0]


def _first_target(learn: Any, metric: str) -> torch.Tensor:
    yb = learn.yb
    if not isinstance(yb, (tuple, list)) or len(yb) == 0:
        raise ValueError(f"{metric}: learn.yb must be a non-empty tuple of targets, got {yb!r:.80}")
    return yb[0]


def _accumulator_dtype(t: torch.Tensor) -> torch.dtype:
    """float64 for running sums where the device has it, else float32."""
    return torch.float32 if t.device.type == "mps" else torch.float64


def flatten_check(inp: torch.Tensor, targ: torch.Tensor, name: str = "metric") -> tuple[torch.Tensor, ...]:
    """Flatten `inp` and `targ` and check that they hold as many elements (error names `name`)."""
    for what, t in (("prediction", inp), ("target", targ)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name}: the {what} must be a tensor, got {type(t).__name__}")
    if inp.numel() != targ.numel():
        raise ValueError(
            f"{name}: {inp.numel()} predictions for {targ.numel()} targets "
            f"(prediction shape {tuple(inp.shape)}, target shape {tuple(targ.shape)})"
        )
    return inp.reshape(-1), targ.reshape(-1)


@dataclass
class _Batch:
    """The part of the Learner's state a metric reads, for calling a metric on one batch."""

    pred: Any
    yb: tuple
    xb: tuple = ()
    loss: Any = None
    loss_func: Any = None


class Metric:
    """Base class of metrics that accumulate over the batches of a validation pass.

    Subclasses implement `reset`, `accumulate(learn)` and the `value` property; `name` defaults
    to the class name in snake case. Calling a metric, `m(pred, *targs)`, resets it and returns
    its value on that single batch.
    """

    def reset(self) -> None:
        """Clear the accumulated state before a validation pass."""
        raise NotImplementedError(f"{type(self).__name__} must implement reset()")

    def accumulate(self, learn: Any) -> None:
        """Add one batch, read from `learn.pred`, `learn.yb` and friends."""
        raise NotImplementedError(f"{type(self).__name__} must implement accumulate(learn)")

    @property
    def value(self) -> Any:
        """The metric over everything accumulated since `reset` (None before any batch)."""
        raise NotImplementedError(f"{type(self).__name__} must implement the value property")

    @property
    def name(self) -> str:
        """Column name for logs and recorders."""
        return _camel_to_snake(type(self).__name__)

    def __call__(self, pred: Any, *targs: Any) -> Any:
        """Reset, accumulate the single batch `(pred, targs)` and return the value."""
        self.reset()
        self.accumulate(_Batch(pred=pred, yb=tuple(targs)))
        return self.value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class AvgMetric(Metric):
    """Mean of `func(pred, *yb)` over batches, each weighted by its batch size."""

    def __init__(self, func: Callable) -> None:
        if not callable(func):
            raise TypeError(f"AvgMetric expects a function f(pred, targ), got {type(func).__name__}")
        self.func = func
        self.reset()

    def reset(self) -> None:
        self.total: Any = 0.0
        self.count = 0

    def accumulate(self, learn: Any) -> None:
        bs = _batch_size(learn.yb, self.name)
        val = self.func(learn.pred, *learn.yb)
        if isinstance(val, torch.Tensor):
            val = val.detach().to(_accumulator_dtype(val))
        self.total = self.total + val * bs
        self.count += bs

    @property
    def value(self) -> Any:
        return None if self.count == 0 else _to_python(self.total / self.count)

    @property
    def name(self) -> str:
        return _func_name(self.func)

    def __repr__(self) -> str:
        return f"AvgMetric({self.name})"


class AvgLoss(Metric):
    """Mean of `learn.loss` over batches, each weighted by its batch size."""

    def reset(self) -> None:
        self.total: Any = 0.0
        self.count = 0

    def accumulate(self, learn: Any) -> None:
        loss = learn.loss
        if not isinstance(loss, torch.Tensor):
            raise ValueError(f"{self.name}: learn.loss must be a tensor, got {type(loss).__name__}")
        bs = _batch_size(learn.yb, self.name)
        self.total = self.total + loss.detach().mean().to(_accumulator_dtype(loss)) * bs
        self.count += bs

    @property
    def value(self) -> Any:
        return None if self.count == 0 else _to_python(self.total / self.count)

    @property
    def name(self) -> str:
        return "loss"


class AvgSmoothLoss(Metric):
    """Exponential moving average of `learn.loss` with weight `beta`, debiased like Adam's moments.

    After `n` batches the value is `sum(beta**(n-i) * (1-beta) * loss_i) / (1 - beta**n)`, so the
    first batches are not pulled towards zero. Stays on the loss's device (no sync per batch).
    """

    def __init__(self, beta: float = 0.98) -> None:
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"AvgSmoothLoss: beta must be in [0, 1), got {beta}")
        self.beta = beta
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.val: torch.Tensor | None = None

    def accumulate(self, learn: Any) -> None:
        loss = learn.loss
        if not isinstance(loss, torch.Tensor):
            raise ValueError(f"{self.name}: learn.loss must be a tensor, got {type(loss).__name__}")
        loss = loss.detach().mean().to(_accumulator_dtype(loss))
        self.count += 1
        self.val = loss * (1 - self.beta) if self.val is None else torch.lerp(loss, self.val, self.beta)

    @property
    def value(self) -> Any:
        if self.val is None:
            return None
        return _to_python(self.val / (1 - self.beta**self.count))

    @property
    def name(self) -> str:
        return "loss"


class ActivationType:
    """Names of what `AccumMetric` applies to the predictions before storing them."""

    No = "no"
    Sigmoid = "sigmoid"
    Softmax = "softmax"
    BinarySoftmax = "binary_softmax"


_ACTIVATIONS = (
    ActivationType.No,
    ActivationType.Sigmoid,
    ActivationType.Softmax,
    ActivationType.BinarySoftmax,
)


def _activation(value: str | None, metric: str) -> str:
    if value is None:
        return ActivationType.No
    if value not in _ACTIVATIONS:
        options = ", ".join(repr(a) for a in _ACTIVATIONS)
        raise ValueError(f"{metric}: activation must be one of {options}, got {value!r}")
    return value


class AccumMetric(Metric):
    """Store every prediction and target of the pass, then compute `func` on all of them at once.

    For metrics that are not a mean over items (RMSE, AUC, ...). Before storing, the prediction
    goes through `activation` (softmax / binary_softmax over `dim_argmax`, or sigmoid), else an
    argmax over `dim_argmax`; then `pred >= thresh` when `thresh` is set. Predictions and targets
    are kept on the CPU; `flatten` flattens both (their sizes must match); `to_np` hands numpy
    arrays to `func`; `invert_arg` calls `func(targs, preds)` (scikit-learn order); `kwargs` go
    to `func`.
    """

    def __init__(
        self,
        func: Callable,
        dim_argmax: int | None = None,
        activation: str | None = ActivationType.No,
        thresh: float | None = None,
        to_np: bool = False,
        invert_arg: bool = False,
        flatten: bool = True,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if not callable(func):
            raise TypeError(f"AccumMetric expects a function, got {type(func).__name__}")
        self.func, self.dim_argmax, self.thresh = func, dim_argmax, thresh
        self._name = name if name is not None else _func_name(func)
        self.activation = _activation(activation, self._name)
        self.to_np, self.invert_arg, self.flatten, self.kwargs = to_np, invert_arg, flatten, kwargs
        self.reset()

    def reset(self) -> None:
        self.preds: list[torch.Tensor] = []
        self.targs: list[torch.Tensor] = []

    def activate(self, pred: torch.Tensor) -> torch.Tensor:
        """Apply the activation, argmax and threshold set at construction to a batch of predictions."""
        if not isinstance(pred, torch.Tensor):
            raise TypeError(f"{self.name}: the prediction must be a tensor, got {type(pred).__name__}")
        act = self.activation
        if act != ActivationType.No and not pred.is_floating_point():
            raise TypeError(f"{self.name}: activation {act!r} needs floating predictions, got {pred.dtype}")
        dim = -1 if self.dim_argmax is None else self.dim_argmax
        if act in (ActivationType.Softmax, ActivationType.BinarySoftmax):
            pred = torch.softmax(pred, dim=dim)
            if act == ActivationType.BinarySoftmax:
                pred = pred.select(dim, -1)
        elif act == ActivationType.Sigmoid:
            pred = torch.sigmoid(pred)
        elif self.dim_argmax is not None:
            pred = pred.argmax(dim=self.dim_argmax)
        if self.thresh is not None:
            pred = pred >= self.thresh
        return pred

    def accumulate(self, learn: Any) -> None:
        self.accumulate_values(self.activate(learn.pred), _first_target(learn, self.name))

    def accumulate_values(self, preds: torch.Tensor, targs: torch.Tensor) -> None:
        """Store already-activated predictions and their targets."""
        preds, targs = preds.detach().cpu(), torch.as_tensor(targs).detach().cpu()
        if self.flatten:
            preds, targs = flatten_check(preds, targs, self.name)
        self.preds.append(preds)
        self.targs.append(targs)

    @property
    def value(self) -> Any:
        if not self.preds:
            return None
        try:
            preds, targs = torch.cat(self.preds), torch.cat(self.targs)
        except RuntimeError as e:
            raise ValueError(
                f"{self.name}: batches have incompatible shapes and cannot be joined "
                f"(use flatten=True or keep trailing dimensions equal): {e}"
            ) from e
        if self.to_np:
            preds, targs = preds.numpy(), targs.numpy()
        args = (targs, preds) if self.invert_arg else (preds, targs)
        return _to_python(self.func(*args, **self.kwargs))

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"AccumMetric({self.name})"


def mk_metric(m: Metric | Callable) -> Metric:
    """`m` itself if it is a `Metric`, else `AvgMetric(m)` for a function `m(pred, targ)`."""
    if isinstance(m, Metric):
        return m
    if isinstance(m, type):
        raise TypeError(f"metric {m.__name__} is a class; pass an instance such as {m.__name__}()")
    if not callable(m):
        raise TypeError(f"metric {m!r:.80} is neither a Metric nor a function f(pred, targ)")
    return AvgMetric(m)
