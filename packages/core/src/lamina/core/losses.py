"""Loss functions that flatten predictions and targets and know how to decode predictions.

Every loss here is an `nn.Module` with:
- `activation(x)`: what turns raw model outputs into probabilities/predictions (softmax, sigmoid,
  identity) - `Learner.get_preds` applies it;
- `decodes(x)`: turns *activated* outputs into targets-like values (argmax, `> thresh`);
- `reduction`: readable and settable ('mean', 'sum' or 'none'), so a caller can switch to
  per-element losses for a while.

`BaseLoss(loss_cls, *args, axis=-1, flatten=True, floatify=False, is_2d=True, **kwargs)` wraps a
PyTorch loss: it moves `axis` (the class axis of the predictions) last, flattens predictions to
`(n, classes)` (`is_2d`) or `(n,)` and targets to `(n,)`, turns small integer targets into int64
and, with `floatify`, casts targets to the predictions' float dtype. So one loss works for a batch
of vectors, of sequences or of segmentation maps (`CrossEntropyLossFlat(axis=1)` on `(bs, classes,
h, w)` predictions and `(bs, h, w)` targets). With `reduction='none'` the result is flat (one value
per flattened element). Semantic tensor subclasses are read as plain tensors.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lamina.core.basics.meta import delegates
from lamina.core.layers.recorded import RecordedInit
from lamina.core.plugins.registry import register_class

__all__ = [
    "BaseLoss",
    "CrossEntropyLossFlat",
    "BCEWithLogitsLossFlat",
    "BCELossFlat",
    "MSELossFlat",
    "L1LossFlat",
    "LabelSmoothingCrossEntropy",
    "LabelSmoothingCrossEntropyFlat",
    "FocalLoss",
    "FocalLossFlat",
    "DiceLoss",
]

REDUCTIONS = ("mean", "sum", "none")
_SMALL_INTS = (torch.int8, torch.int16, torch.int32, torch.uint8)


def _check_reduction(value: Any, owner: str) -> str:
    if value not in REDUCTIONS:
        raise ValueError(f"{owner}: reduction must be 'mean', 'sum' or 'none', got {value!r}")
    return value


def _plain(x: Any, what: str, owner: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{owner}: {what} must be a tensor, got {type(x).__name__}")
    return x if type(x) is Tensor else Tensor.as_subclass(x, Tensor)


def _shape(x: Tensor) -> tuple[int, ...]:
    return tuple(x.shape)


def _as_weight(weight: Any, owner: str) -> Tensor | None:
    if weight is None or isinstance(weight, Tensor):
        return weight
    try:
        return torch.as_tensor(weight, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError) as e:
        raise TypeError(f"{owner}: weight must be a tensor of per-class weights, got {weight!r}") from e


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


class _ReducedLoss(RecordedInit, nn.Module):
    """A loss module with a validated, settable `reduction`."""

    y_int: ClassVar[bool] = False

    @property
    def reduction(self) -> str:
        return self._reduction

    @reduction.setter
    def reduction(self, value: str) -> None:
        self._reduction = _check_reduction(value, type(self).__name__)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


@register_class("lamina.core.BaseLoss")
class BaseLoss(RecordedInit, nn.Module):
    """Flatten predictions and targets around `axis`, then call `loss_cls(*args, **kwargs)` (module doc)."""

    y_int: ClassVar[bool] = False
    """True for losses whose targets are class indices (as fastai's `y_int`)."""

    def __init__(
        self,
        loss_cls: type[nn.Module],
        *args: Any,
        axis: int = -1,
        flatten: bool = True,
        floatify: bool = False,
        is_2d: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if "reduction" in kwargs:
            _check_reduction(kwargs["reduction"], type(self).__name__)
        self.axis, self.flatten, self.floatify, self.is_2d = axis, flatten, floatify, is_2d
        self.func = loss_cls(*args, **kwargs)

    @property
    def reduction(self) -> str:
        return self.func.reduction

    @reduction.setter
    def reduction(self, value: str) -> None:
        self.func.reduction = _check_reduction(value, type(self).__name__)

    def activation(self, x: Tensor) -> Tensor:
        """Raw outputs -> activated outputs (identity here)."""
        return x

    def decodes(self, x: Tensor) -> Tensor:
        """Activated outputs -> decoded predictions (identity here)."""
        return x

    def _class_axis(self, inp: Tensor) -> int:
        if not -inp.ndim <= self.axis < max(inp.ndim, 1):
            raise ValueError(
                f"{type(self).__name__}: axis={self.axis} is out of range for predictions of shape "
                f"{_shape(inp)}"
            )
        return self.axis % inp.ndim

    def forward(self, inp: Tensor, targ: Tensor, **kwargs: Any) -> Tensor:
        name = type(self).__name__
        inp, targ = _plain(inp, "predictions", name), _plain(targ, "targets", name)
        inp_shape, targ_shape = _shape(inp), _shape(targ)
        if inp.ndim:
            axis = self._class_axis(inp)
            if axis != inp.ndim - 1:
                same_layout = targ.ndim == inp.ndim
                inp = inp.movedim(axis, -1)
                if same_layout:
                    targ = targ.movedim(axis, -1)
        if self.floatify and inp.is_floating_point() and targ.dtype != inp.dtype:
            targ = targ.to(inp.dtype)
        elif targ.dtype in _SMALL_INTS:
            targ = targ.long()
        if not self.flatten:
            if not self.is_2d and inp_shape != targ_shape:
                raise ValueError(
                    f"{name}: predictions of shape {inp_shape} and targets of shape {targ_shape} differ"
                )
            return self.func(inp, targ, **kwargs)
        if self.is_2d:
            n_classes = inp.shape[-1] if inp.ndim else 0
            if targ.is_floating_point() and targ.shape == inp.shape:  # class probabilities
                targ = targ.reshape(-1, n_classes)
            elif inp.ndim < 1 or targ.numel() * n_classes != inp.numel():
                axis_note = f" (classes on axis {self.axis})" if inp.ndim else ""
                raise ValueError(
                    f"{name}: predictions of shape {inp_shape}{axis_note} and targets of shape "
                    f"{targ_shape} do not match: the targets need one class index per prediction row, "
                    f"{inp.numel() // max(n_classes, 1)} in all, or one probability per class (same shape)"
                )
            else:
                targ = targ.reshape(-1)
            return self.func(inp.reshape(-1, n_classes), targ, **kwargs)
        if targ.numel() != inp.numel():
            raise ValueError(
                f"{name}: predictions of shape {inp_shape} and targets of shape {targ_shape} have "
                f"different numbers of elements ({inp.numel()} vs {targ.numel()})"
            )
        return self.func(inp.reshape(-1), targ.reshape(-1), **kwargs)

    def __repr__(self) -> str:
        return f"FlattenedLoss of {self.func}"


@register_class("lamina.core.CrossEntropyLossFlat")
class CrossEntropyLossFlat(BaseLoss):
    """`nn.CrossEntropyLoss` with the classes on `axis`; activation softmax, decodes argmax (over `axis`)."""

    y_int = True

    @delegates(nn.CrossEntropyLoss, but=("size_average", "reduce"))
    def __init__(self, *args: Any, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(nn.CrossEntropyLoss, *args, axis=axis, **kwargs)

    def activation(self, x: Tensor) -> Tensor:
        return F.softmax(x, dim=self.axis)

    def decodes(self, x: Tensor) -> Tensor:
        return x.argmax(dim=self.axis)


@register_class("lamina.core.BCEWithLogitsLossFlat")
class BCEWithLogitsLossFlat(BaseLoss):
    """`nn.BCEWithLogitsLoss` on flattened float targets; activation sigmoid, decodes `x > thresh`.

    With `pos_weight` the tensors are not flattened (it broadcasts over the last axis).
    """

    @delegates(nn.BCEWithLogitsLoss, but=("size_average", "reduce"))
    def __init__(
        self, *args: Any, axis: int = -1, floatify: bool = True, thresh: float = 0.5, **kwargs: Any
    ) -> None:
        if kwargs.get("pos_weight") is not None:
            if kwargs.get("flatten") is True:
                raise ValueError("BCEWithLogitsLossFlat: pos_weight needs flatten=False (it is per class)")
            kwargs["flatten"] = False
        super().__init__(nn.BCEWithLogitsLoss, *args, axis=axis, floatify=floatify, is_2d=False, **kwargs)
        self.thresh = thresh

    def activation(self, x: Tensor) -> Tensor:
        return torch.sigmoid(x)

    def decodes(self, x: Tensor) -> Tensor:
        return x > self.thresh


@register_class("lamina.core.BCELossFlat")
class BCELossFlat(BaseLoss):
    """`nn.BCELoss` (predictions already probabilities) on flattened float targets; decodes `x > thresh`."""

    @delegates(nn.BCELoss, but=("size_average", "reduce"))
    def __init__(
        self, *args: Any, axis: int = -1, floatify: bool = True, thresh: float = 0.5, **kwargs: Any
    ) -> None:
        super().__init__(nn.BCELoss, *args, axis=axis, floatify=floatify, is_2d=False, **kwargs)
        self.thresh = thresh

    def decodes(self, x: Tensor) -> Tensor:
        return x > self.thresh


@register_class("lamina.core.MSELossFlat")
class MSELossFlat(BaseLoss):
    """`nn.MSELoss` on flattened predictions and float targets (so `(bs, 1)` vs `(bs,)` is fine)."""

    @delegates(nn.MSELoss, but=("size_average", "reduce"))
    def __init__(self, *args: Any, axis: int = -1, floatify: bool = True, **kwargs: Any) -> None:
        super().__init__(nn.MSELoss, *args, axis=axis, floatify=floatify, is_2d=False, **kwargs)


@register_class("lamina.core.L1LossFlat")
class L1LossFlat(BaseLoss):
    """`nn.L1Loss` on flattened predictions and float targets."""

    @delegates(nn.L1Loss, but=("size_average", "reduce"))
    def __init__(self, *args: Any, axis: int = -1, floatify: bool = True, **kwargs: Any) -> None:
        super().__init__(nn.L1Loss, *args, axis=axis, floatify=floatify, is_2d=False, **kwargs)


@register_class("lamina.core.LabelSmoothingCrossEntropy")
class LabelSmoothingCrossEntropy(_ReducedLoss):
    """Cross-entropy against targets smoothed with `eps` (Szegedy et al.); classes on dim 1.

    `(1 - eps) * nll + eps * mean over classes of -log p`; `weight` (per class) weighs the nll part.
    """

    y_int = True

    def __init__(self, eps: float = 0.1, weight: Tensor | None = None, reduction: str = "mean") -> None:
        super().__init__()
        if not 0.0 <= eps <= 1.0:
            raise ValueError(f"LabelSmoothingCrossEntropy: eps must be in [0, 1], got {eps!r}")
        self.eps, self.reduction = eps, reduction
        self.register_buffer("weight", _as_weight(weight, type(self).__name__), persistent=False)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        output = _plain(output, "predictions", "LabelSmoothingCrossEntropy")
        target = _plain(target, "targets", "LabelSmoothingCrossEntropy")
        _check_class_targets("LabelSmoothingCrossEntropy", output, target)
        log_preds = F.log_softmax(output, dim=1)
        smooth = _reduce(-log_preds.mean(dim=1), self.reduction)
        nll = F.nll_loss(log_preds, target.long(), weight=self.weight, reduction=self.reduction)
        return self.eps * smooth + (1 - self.eps) * nll

    def extra_repr(self) -> str:
        return f"eps={self.eps}, reduction={self.reduction!r}"

    def activation(self, x: Tensor) -> Tensor:
        return F.softmax(x, dim=1)

    def decodes(self, x: Tensor) -> Tensor:
        return x.argmax(dim=1)


@register_class("lamina.core.LabelSmoothingCrossEntropyFlat")
class LabelSmoothingCrossEntropyFlat(BaseLoss):
    """`LabelSmoothingCrossEntropy` with the classes on `axis`, flattened like `CrossEntropyLossFlat`."""

    y_int = True

    @delegates(LabelSmoothingCrossEntropy)
    def __init__(self, *args: Any, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(LabelSmoothingCrossEntropy, *args, axis=axis, **kwargs)

    def activation(self, x: Tensor) -> Tensor:
        return F.softmax(x, dim=self.axis)

    def decodes(self, x: Tensor) -> Tensor:
        return x.argmax(dim=self.axis)


def _check_class_targets(owner: str, output: Tensor, target: Tensor) -> None:
    expected = output.shape[:1] + output.shape[2:]
    if output.ndim < 2 or target.shape != expected:
        raise ValueError(
            f"{owner}: predictions of shape {_shape(output)} (classes on dim 1) need targets of shape "
            f"{tuple(expected)}, got targets of shape {_shape(target)}"
        )


@register_class("lamina.core.FocalLoss")
class FocalLoss(_ReducedLoss):
    """Focal loss (Lin et al.): `(1 - p_t) ** gamma * -log(p_t)` per item, classes on dim 1.

    `p_t` is the predicted probability of the true class; `weight` (one per class, like
    `nn.CrossEntropyLoss`'s) multiplies each item's loss by its class's weight. 'mean' is the
    plain mean over items.
    """

    y_int = True

    def __init__(self, gamma: float = 2.0, weight: Tensor | None = None, reduction: str = "mean") -> None:
        super().__init__()
        self.gamma, self.reduction = gamma, reduction
        self.register_buffer("weight", _as_weight(weight, type(self).__name__), persistent=False)

    def forward(self, inp: Tensor, targ: Tensor) -> Tensor:
        inp, targ = _plain(inp, "predictions", "FocalLoss"), _plain(targ, "targets", "FocalLoss")
        _check_class_targets("FocalLoss", inp, targ)
        targ = targ.long()
        ce = F.cross_entropy(inp, targ, reduction="none")
        loss = (1 - torch.exp(-ce)) ** self.gamma * ce
        if self.weight is not None:
            loss = loss * self.weight[targ]
        return _reduce(loss, self.reduction)

    def activation(self, x: Tensor) -> Tensor:
        return F.softmax(x, dim=1)

    def decodes(self, x: Tensor) -> Tensor:
        return x.argmax(dim=1)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, reduction={self.reduction!r}"


@register_class("lamina.core.FocalLossFlat")
class FocalLossFlat(BaseLoss):
    """`FocalLoss` with the classes on `axis`, flattened like `CrossEntropyLossFlat`."""

    y_int = True

    @delegates(FocalLoss)
    def __init__(self, *args: Any, gamma: float = 2.0, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(FocalLoss, *args, gamma=gamma, axis=axis, **kwargs)

    def activation(self, x: Tensor) -> Tensor:
        return F.softmax(x, dim=self.axis)

    def decodes(self, x: Tensor) -> Tensor:
        return x.argmax(dim=self.axis)


@register_class("lamina.core.DiceLoss")
class DiceLoss(_ReducedLoss):
    """Soft Dice loss for segmentation: `1 - (2 |P.T| + smooth) / (|P| + |T| + smooth)` per item and class.

    Predictions are raw scores with the classes on `axis`; targets are class indices (the
    predictions' shape without `axis`). P is the softmax over `axis`, T the one-hot targets; sums run
    over the spatial dims; `square_in_union` uses `|P|^2` in the union. `reduction='none'` gives one
    loss per item and class, `(bs, classes)`.
    """

    y_int = True

    def __init__(
        self, axis: int = 1, smooth: float = 1e-6, reduction: str = "sum", square_in_union: bool = False
    ) -> None:
        super().__init__()
        self.axis, self.smooth, self.reduction, self.square_in_union = (
            axis,
            smooth,
            reduction,
            square_in_union,
        )

    def forward(self, pred: Tensor, targ: Tensor) -> Tensor:
        pred, targ = _plain(pred, "predictions", "DiceLoss"), _plain(targ, "targets", "DiceLoss")
        if pred.ndim < 2 or not -pred.ndim <= self.axis < pred.ndim:
            raise ValueError(
                f"DiceLoss: axis={self.axis} is out of range for predictions of shape {_shape(pred)}"
            )
        axis = self.axis % pred.ndim
        expected = pred.shape[:axis] + pred.shape[axis + 1 :]
        if targ.shape != expected:
            raise ValueError(
                f"DiceLoss: predictions of shape {_shape(pred)} (classes on axis {self.axis}) need "
                f"class-index targets of shape {tuple(expected)}, got targets of shape {_shape(targ)}"
            )
        n_classes = pred.shape[axis]
        probs = self.activation(pred).movedim(axis, 1)
        onehot = F.one_hot(targ.long(), n_classes).movedim(-1, 1).to(probs.dtype)
        sum_dims = tuple(range(2, probs.ndim))
        inter = (probs * onehot).sum(dim=sum_dims)
        pred_size = (probs * probs if self.square_in_union else probs).sum(dim=sum_dims)
        union = pred_size + onehot.sum(dim=sum_dims)
        loss = 1 - (2 * inter + self.smooth) / (union + self.smooth)
        return _reduce(loss, self.reduction)

    def activation(self, x: Tensor) -> Tensor:
        return F.softmax(x, dim=self.axis)

    def decodes(self, x: Tensor) -> Tensor:
        return x.argmax(dim=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}, smooth={self.smooth}, reduction={self.reduction!r}"
