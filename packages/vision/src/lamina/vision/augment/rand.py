"""`RandTransform` and the random draws of batch augmentation (vectorised, on the batch's device).

A random transform draws its parameters once per call in `before_call(b, split_idx)`, then encodes every
part of the batch with the same draw, so an image, its mask, points and boxes move together. Augmentation
runs on the training set only (`split_idx=0`): a validation batch (`split_idx=1`) or a plain call
(`split_idx=None`) passes through untouched, and draws nothing.

Randomness comes from torch: the default generator of the batch's device (so `torch.manual_seed` makes
a run repeatable) or, when a transform is given `generator=`, that generator (draws are made on its device,
then moved to the batch's device).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from lamina.core.transform import DisplayedTransform

__all__ = [
    "RandTransform",
    "batch_size_of",
    "first_instance",
    "rand_uniform",
    "rand_log_uniform",
    "rand_mask",
    "resolve_draw",
]


_NOT_SHOWN = ("self", "enc", "dec", "split_idx", "order", "before_call", "generator")


def _check_p(p: float, owner: str) -> float:
    try:
        p = float(p)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{owner}: p must be a probability, got {p!r}") from e
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{owner}: p must be between 0 and 1, got {p}")
    return p


class RandTransform(DisplayedTransform):
    """A transform that draws random parameters once per call (`before_call`) and applies them to every
    part of the batch; runs on training batches only (`split_idx=0`).

    `p`: probability that the whole call does anything (one coin per call), unless the class sets
    `per_item_p = True`: then `p` is the probability per item, drawn by the subclass (the augmentations of
    this package do that, so each image of a batch is changed or not on its own). `before_call`: a
    function `f(b, split_idx)` that replaces the method. `generator`: a `torch.Generator` for every draw
    (None: torch's default one). To run on every split, set `tfm.split_idx = None` after creating it
    (`Transform(split_idx=None)` means "keep the class default").
    """

    split_idx = 0
    per_item_p = False  # True in subclasses that draw `p` per item themselves (no whole-batch coin then)

    def __init__(
        self,
        p: float = 1.0,
        before_call: Callable[[Any, int | None], None] | None = None,
        generator: torch.Generator | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.p = _check_p(p, type(self).__name__)
        if before_call is not None:
            if not callable(before_call):
                raise TypeError(f"{type(self).__name__}(before_call=...) must be callable")
            self.before_call = before_call
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(
                f"{type(self).__name__}(generator=...) must be a torch.Generator, got {generator!r}"
            )
        self.generator = generator
        self.do = True

    _not_shown = _NOT_SHOWN  # `name` shows the settings, not the hook or the random generator

    def before_call(self, b: Any, split_idx: int | None) -> None:
        """Draw this call's parameters; sets `self.do` (whether the call changes the batch)."""
        if self.per_item_p or self.p >= 1.0:
            self.do = True
        else:
            self.do = self.p > 0.0 and bool(_cpu_rand((), self.generator) < self.p)

    def __call__(self, b: Any, split_idx: int | None = None, **kwargs: Any) -> Any:
        own = self.split_idx
        if own is not None and split_idx != own:
            return b
        self.before_call(b, split_idx)
        if not self.do:
            return b
        return super().__call__(b, split_idx=split_idx, **kwargs)


def first_instance(b: Any, cls: type) -> Any:
    """The first object of class `cls` in batch `b` (looking inside tuples and lists), or None."""
    if isinstance(b, cls):
        return b
    if isinstance(b, (tuple, list)):
        for o in b:
            found = first_instance(o, cls)
            if found is not None:
                return found
    return None


def _cpu_rand(shape: tuple, generator: torch.Generator | None) -> Tensor:
    if generator is None:
        return torch.rand(shape)
    return torch.rand(shape, generator=generator, device=generator.device).cpu()


def batch_size_of(x: Tensor) -> int:
    """The batch size of a batched tensor (its first dimension), with a clear error for a scalar."""
    if not isinstance(x, Tensor) or x.dim() == 0:
        raise TypeError(f"batch augmentation needs a batched tensor, got {type(x).__name__}")
    return x.shape[0]


def _rand(x: Tensor, generator: torch.Generator | None, batch: bool) -> Tensor:
    """Uniform [0, 1) float32 values, one per item of batch `x` (one shared value when `batch`)."""
    n = 1 if batch else batch_size_of(x)
    if generator is None:
        res = torch.rand(n, device=x.device)
    else:
        res = torch.rand(n, generator=generator, device=generator.device).to(x.device)
    return res.expand(batch_size_of(x)) if batch else res


def rand_uniform(
    x: Tensor, low: float, high: float, generator: torch.Generator | None = None, batch: bool = False
) -> Tensor:
    """One value uniform in `[low, high)` per item of batch `x` (float32, on `x`'s device)."""
    return low + (high - low) * _rand(x, generator, batch)


def rand_log_uniform(
    x: Tensor, low: float, high: float, generator: torch.Generator | None = None, batch: bool = False
) -> Tensor:
    """One value log-uniform in `[low, high)` (both > 0) per item of batch `x`."""
    if low <= 0 or high <= 0:
        raise ValueError(f"rand_log_uniform: bounds must be positive, got ({low}, {high})")
    return torch.exp(rand_uniform(x, math.log(low), math.log(high), generator, batch))


def rand_mask(x: Tensor, p: float, generator: torch.Generator | None = None, batch: bool = False) -> Tensor:
    """A bool per item of batch `x`: True with probability `p` (all equal when `batch`)."""
    if p >= 1.0:
        return torch.ones(batch_size_of(x), dtype=torch.bool, device=x.device)
    return _rand(x, generator, batch) < p


def resolve_draw(
    draw: float | Sequence[float] | Tensor | Callable[[Tensor], Any] | None,
    x: Tensor,
    random: Callable[[], Tensor],
    name: str = "draw",
) -> Tensor:
    """The per-item values of a parameter for batch `x`: drawn by `random()` when `draw` is None, else
    taken from `draw` (a number for every item, one value per item, or a function `draw(x)`)."""
    if draw is None:
        return random()
    bs = batch_size_of(x)
    if callable(draw) and not isinstance(draw, Tensor):
        draw = draw(x)
    try:
        res = torch.as_tensor(draw, dtype=torch.float32, device=x.device)
    except (TypeError, ValueError, RuntimeError) as e:
        raise TypeError(
            f"{name}: expected a number, {bs} numbers or a function giving them, got {draw!r}"
        ) from e
    if res.dim() == 0:
        return res.expand(bs)
    if res.shape != (bs,):
        raise ValueError(
            f"{name}: expected a number or {bs} values (one per item), got shape {tuple(res.shape)}"
        )
    return res
