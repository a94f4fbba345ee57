"""`MixUp` and `CutMix`: train on blends of pairs of samples, with targets (or losses) blended alike.

Each training batch is paired with a shuffled copy of itself. `MixUp` blends the inputs,
`x = lam * x + (1 - lam) * x[perm]` with one `lam ~ Beta(alpha, alpha)` per sample (kept >= 0.5 so
the original dominates); `CutMix` pastes one random box of the shuffled images into the batch and
sets `lam` to the share of each image left untouched. Then:

- targets that are class indices (integer targets, or a loss with `y_int = True`) cannot be blended,
  so the *loss* is: `lam * loss(pred, y) + (1 - lam) * loss(pred, y[perm])`, per sample, then reduced
  as the loss function reduces (it needs a `reduction` attribute or argument);
- other targets (one-hot or multi-hot vectors, regression values) become soft targets
  `lam * y + (1 - lam) * y[perm]`, and the loss function is used as it is.

Validation is untouched. Nothing is read back from the device: MixUp draws `lam` and the permutation
on the batch's device; CutMix draws its `lam` and box on the host (they set slice bounds). All draws use
torch's generators, so `torch.manual_seed` makes them repeat.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
from torch.distributions import Beta

from lamina.core.learner.callback import Callback

__all__ = ["MixHandler", "MixUp", "CutMix"]


def _per_item_loss(loss_func: Callable) -> tuple[Callable[..., torch.Tensor], str]:
    """A function giving one loss per element with `loss_func`, and the reduction `loss_func` uses."""
    if hasattr(loss_func, "reduction"):
        reduction = loss_func.reduction

        def per_item(*args: Any) -> torch.Tensor:
            old = loss_func.reduction
            loss_func.reduction = "none"
            try:
                return loss_func(*args)
            finally:
                loss_func.reduction = old

        return per_item, reduction
    try:
        params = inspect.signature(loss_func).parameters
    except (TypeError, ValueError):
        params = {}
    if "reduction" not in params:
        name = getattr(loss_func, "__name__", type(loss_func).__name__)
        raise TypeError(
            "mixing the losses of class-index targets needs one loss per sample, but the loss function "
            f"{name} has no `reduction` attribute or argument; use e.g. CrossEntropyLossFlat() or "
            "F.cross_entropy"
        )
    default = params["reduction"].default
    return functools.partial(loss_func, reduction="none"), default if isinstance(default, str) else "mean"


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _per_sample(lam: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """`lam` (one value per sample) shaped to broadcast over `like` (samples first)."""
    return lam.to(like.dtype).view(-1, *([1] * (like.ndim - 1)))


class MixHandler(Callback):
    """What `MixUp` and `CutMix` share: the `Beta(alpha, alpha)` draw, the shuffled partner of each
    sample, and the blending of targets or losses (module docstring). Subclasses set `self.lam`
    (one weight per sample, on the device), `self.perm` and `learn.xb` in `before_batch` and then call
    `_mix_targets()`."""

    run_valid = False

    def __init__(self, alpha: float = 0.4) -> None:
        if not alpha > 0:
            raise ValueError(f"{type(self).__name__}: alpha must be positive, got {alpha!r}")
        self.alpha = float(alpha)
        self.distrib = self._beta(torch.device("cpu"))
        self.lam: torch.Tensor | None = None
        self.perm: torch.Tensor | None = None
        self.mixes_loss = False
        self._shuffled_yb: tuple = ()
        self._per_item: tuple[Any, Callable[..., torch.Tensor], str] | None = None

    def _beta(self, device: torch.device) -> Beta:
        """`Beta(alpha, alpha)` sampling on `device` (kept, one per device)."""
        if getattr(self, "distrib", None) is not None and self.distrib.concentration1.device == device:
            return self.distrib
        alpha = torch.tensor(self.alpha, device=device)
        return Beta(alpha, alpha)

    def _shuffle(self, bs: int, device: torch.device) -> torch.Tensor:
        self.perm = torch.randperm(bs, device=device)
        return self.perm

    def _loss_per_item(self) -> tuple[Callable[..., torch.Tensor], str]:
        loss_func = self.learn.loss_func
        if self._per_item is None or self._per_item[0] is not loss_func:
            self._per_item = (loss_func, *_per_item_loss(loss_func))
        return self._per_item[1], self._per_item[2]

    def _targets_are_classes(self) -> bool:
        if getattr(self.learn.loss_func, "y_int", False):
            return True
        return any(isinstance(y, torch.Tensor) and not y.is_floating_point() for y in self.learn.yb)

    def _mix_targets(self) -> None:
        yb = self.learn.yb
        if not yb:
            self.mixes_loss = False
            return
        self.mixes_loss = self._targets_are_classes()
        perm = self.perm
        shuffled = tuple(y[perm] for y in yb)
        if self.mixes_loss:
            self._shuffled_yb = shuffled
            return
        self._shuffled_yb = ()
        self.learn.yb = tuple(
            torch.lerp(y1, y, _per_sample(self.lam, y)) for y, y1 in zip(yb, shuffled, strict=True)
        )

    def after_loss(self) -> None:
        if not self.mixes_loss or self.learn.loss is None:
            return
        learn = self.learn
        per_item, reduction = self._loss_per_item()
        loss = per_item(learn.pred, *learn.yb)
        loss_shuffled = per_item(learn.pred, *self._shuffled_yb)
        bs = self.lam.shape[0]
        if loss.numel() % bs:
            raise ValueError(
                f"{type(self).__name__}: the loss function gave {loss.numel()} per-element losses for a "
                f"batch of {bs}; cannot weigh them per sample"
            )
        mixed = torch.lerp(
            loss_shuffled.reshape(bs, -1), loss.reshape(bs, -1), self.lam.to(loss.dtype)[:, None]
        )
        learn.loss = _reduce(mixed.reshape(loss.shape), reduction)

    def _first_input(self) -> torch.Tensor:
        xb = self.learn.xb
        if not xb or not isinstance(xb[0], torch.Tensor):
            raise TypeError(f"{type(self).__name__}: the batch has no input tensor to mix")
        return xb[0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alpha={self.alpha})"


class MixUp(MixHandler):
    """MixUp (Zhang et al., 2017): each training sample is blended with a shuffled partner,
    `lam ~ Beta(alpha, alpha)` per sample, `lam = max(lam, 1 - lam)`; targets or losses blend alike
    (module docstring). Every input must be a floating tensor."""

    def __init__(self, alpha: float = 0.4) -> None:
        super().__init__(alpha)

    def before_fit(self) -> None:
        # Build the sampler on the model's device before the first batch: creating its parameters
        # there is a host-to-device copy, which must not happen inside a training batch.
        param = next(self.learn.model.parameters(), None)
        if param is not None:
            self.distrib = self._beta(param.device)

    def before_batch(self) -> None:
        x = self._first_input()
        bs = x.shape[0]
        for i, xi in enumerate(self.learn.xb):
            if not (isinstance(xi, torch.Tensor) and xi.is_floating_point()):
                kind = xi.dtype if isinstance(xi, torch.Tensor) else type(xi).__name__
                raise TypeError(
                    f"MixUp: input {i} of the batch is {kind}; only floating tensors can be blended"
                )
        self.distrib = self._beta(x.device)
        lam = self.distrib.sample((bs,))
        self.lam = torch.maximum(lam, 1 - lam)
        perm = self._shuffle(bs, x.device)
        self.learn.xb = tuple(torch.lerp(xi[perm], xi, _per_sample(self.lam, xi)) for xi in self.learn.xb)
        self._mix_targets()


class CutMix(MixHandler):
    """CutMix (Yun et al., 2019): one box, of area `1 - lam` of the image with `lam ~ Beta(alpha, alpha)`,
    is cut from the shuffled images and pasted into the batch (same box for the whole batch); `lam`
    becomes the share of each image left untouched and targets or losses blend with it. The input
    is one image batch `(bs, channels, height, width)` (any number of leading dims before the last two)."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__(alpha)
        self.box: tuple[int, int, int, int] | None = None

    def _random_box(self, height: int, width: int, lam: float) -> tuple[int, int, int, int]:
        """`(top, bottom, left, right)` of a box of about `(1 - lam)` of the image, centred at a random
        pixel and clipped to the image."""
        ratio = math.sqrt(1.0 - lam)
        cut_h, cut_w = round(height * ratio), round(width * ratio)
        cy = int(torch.randint(0, height, (1,)).item())
        cx = int(torch.randint(0, width, (1,)).item())
        top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
        left, right = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
        return top, bottom, left, right

    def before_batch(self) -> None:
        x = self._first_input()
        if len(self.learn.xb) != 1 or x.ndim < 3:
            raise TypeError(
                "CutMix: needs one image batch input (bs, ..., height, width), got "
                f"{len(self.learn.xb)} input(s), the first of shape {tuple(x.shape)}"
            )
        bs, height, width = x.shape[0], x.shape[-2], x.shape[-1]
        perm = self._shuffle(bs, x.device)
        top, bottom, left, right = self.box = self._random_box(height, width, float(self.distrib.sample()))
        mixed = x.clone()
        mixed[..., top:bottom, left:right] = x[perm][..., top:bottom, left:right]
        kept = 1.0 - (bottom - top) * (right - left) / (height * width)
        self.lam = torch.full((bs,), kept, device=x.device)
        self.learn.xb = (mixed,)
        self._mix_targets()
