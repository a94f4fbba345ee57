"""Small utility layers: `Lambda`, `Flatten`, `View`, `Identity`, `SigmoidRange`, `Embedding`."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from lamina.core.layers.init import trunc_normal_
from lamina.core.layers.recorded import RecordedInit
from lamina.core.plugins.registry import register_class

__all__ = ["Identity", "Lambda", "Flatten", "View", "SigmoidRange", "sigmoid_range", "Embedding"]

Identity = nn.Identity
"""PyTorch's `nn.Identity`, under the name fastai code uses."""


@register_class("lamina.core.Lambda")
class Lambda(RecordedInit, nn.Module):
    """A layer that applies `func` (a function of one tensor) in `forward`."""

    def __init__(self, func: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        if not callable(func):
            raise TypeError(f"Lambda: func must be callable, got {func!r}")
        self.func = func

    def forward(self, x: Tensor) -> Tensor:
        return self.func(x)

    def extra_repr(self) -> str:
        return f"func={getattr(self.func, '__qualname__', self.func)!s}"


@register_class("lamina.core.Flatten")
class Flatten(RecordedInit, nn.Module):
    """Flatten every dimension but the batch one into `(bs, -1)`; `full=True` flattens to one dimension."""

    def __init__(self, full: bool = False) -> None:
        super().__init__()
        self.full = full

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(-1) if self.full else x.reshape(x.shape[0], -1)

    def extra_repr(self) -> str:
        return f"full={self.full}"


@register_class("lamina.core.View")
class View(RecordedInit, nn.Module):
    """Reshape the input to `size` (one dimension may be -1)."""

    def __init__(self, *size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: Tensor) -> Tensor:
        try:
            return x.view(*self.size)
        except RuntimeError as e:
            raise RuntimeError(
                f"View{self.size}: cannot view an input of shape {tuple(x.shape)} ({e})"
            ) from e

    def extra_repr(self) -> str:
        return ", ".join(map(str, self.size))


def sigmoid_range(x: Tensor, low: float, high: float) -> Tensor:
    """`sigmoid(x)` scaled to the open interval (low, high)."""
    return torch.sigmoid(x) * (high - low) + low


@register_class("lamina.core.SigmoidRange")
class SigmoidRange(RecordedInit, nn.Module):
    """Squash the input into (low, high) with a scaled sigmoid (e.g. ratings between 0 and 5.5)."""

    def __init__(self, low: float, high: float) -> None:
        super().__init__()
        if not low < high:
            raise ValueError(f"SigmoidRange: low must be below high, got low={low!r}, high={high!r}")
        self.low, self.high = low, high

    def forward(self, x: Tensor) -> Tensor:
        return sigmoid_range(x, self.low, self.high)

    def extra_repr(self) -> str:
        return f"low={self.low}, high={self.high}"


@register_class("lamina.core.Embedding")
class Embedding(RecordedInit, nn.Embedding):
    """`nn.Embedding(ni, nf)` initialised from a normal(0, std) truncated at +-2 std."""

    def __init__(self, ni: int, nf: int, std: float = 0.01) -> None:
        super().__init__(ni, nf)
        trunc_normal_(self.weight.data, std=std)
