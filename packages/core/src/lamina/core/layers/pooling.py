"""Pooling: `AdaptiveConcatPool1d/2d` (max and average side by side) and the `AvgPool`/`MaxPool`/
`AdaptiveAvgPool` factories that pick the 1-, 2- or 3-d PyTorch class from `ndim`."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lamina.core.layers.recorded import RecordedInit, register_function
from lamina.core.plugins.registry import register_class

__all__ = ["AdaptiveConcatPool1d", "AdaptiveConcatPool2d", "AvgPool", "MaxPool", "AdaptiveAvgPool"]


def _pick(kind: str, classes: dict[int, type], ndim: int) -> type:
    if ndim not in classes:
        raise ValueError(f"{kind}: ndim must be 1, 2 or 3, got {ndim!r}")
    return classes[ndim]


@register_function("lamina.core.AvgPool")
def AvgPool(
    ks: int = 2, stride: int | None = None, padding: int = 0, ndim: int = 2, ceil_mode: bool = False
) -> nn.Module:
    """`nn.AvgPool{ndim}d(ks, stride, padding, ceil_mode)`."""
    cls = _pick("AvgPool", {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}, ndim)
    return cls(ks, stride=stride, padding=padding, ceil_mode=ceil_mode)


@register_function("lamina.core.MaxPool")
def MaxPool(
    ks: int = 2, stride: int | None = None, padding: int = 0, ndim: int = 2, ceil_mode: bool = False
) -> nn.Module:
    """`nn.MaxPool{ndim}d(ks, stride, padding, ceil_mode=ceil_mode)`."""
    cls = _pick("MaxPool", {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}, ndim)
    return cls(ks, stride=stride, padding=padding, ceil_mode=ceil_mode)


@register_function("lamina.core.AdaptiveAvgPool")
def AdaptiveAvgPool(sz: int = 1, ndim: int = 2) -> nn.Module:
    """`nn.AdaptiveAvgPool{ndim}d(sz)`."""
    cls = _pick(
        "AdaptiveAvgPool", {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}, ndim
    )
    return cls(sz)


class _AdaptiveConcatPool(RecordedInit, nn.Module):
    _ndim: int
    _max: type
    _avg: type

    def __init__(self, size: int | None = None) -> None:
        super().__init__()
        self.size = 1 if size is None else size
        self.mp, self.ap = self._max(self.size), self._avg(self.size)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != self._ndim + 2:
            raise ValueError(
                f"{type(self).__name__}: expected a batch of shape (bs, channels, {self._ndim} spatial "
                f"dims), got shape {tuple(x.shape)}"
            )
        return torch.cat([self.mp(x), self.ap(x)], dim=1)

    def extra_repr(self) -> str:
        return f"size={self.size}"


@register_class("lamina.core.AdaptiveConcatPool1d")
class AdaptiveConcatPool1d(_AdaptiveConcatPool):
    """Adaptive max pool and adaptive average pool to `size` (default 1), concatenated: channels double."""

    _ndim, _max, _avg = 1, nn.AdaptiveMaxPool1d, nn.AdaptiveAvgPool1d


@register_class("lamina.core.AdaptiveConcatPool2d")
class AdaptiveConcatPool2d(_AdaptiveConcatPool):
    """Adaptive max pool and adaptive average pool to `size` (default 1), concatenated: channels double."""

    _ndim, _max, _avg = 2, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d
