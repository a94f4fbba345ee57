"""`RecordedSequential`: an `nn.Sequential` model that records its constructor arguments; slices are plain."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from lamina.core.layers.recorded import RecordedInit

__all__ = ["RecordedSequential"]


class RecordedSequential(RecordedInit, nn.Sequential):
    """Base for models that build their layers in `__init__` and run them in order.

    The constructor arguments are recorded (`lamina.core.layers.recorded`), so the model can be
    described as data. A slice (`model[:3]`) is a plain `nn.Sequential` keeping the layer names:
    `nn.Sequential` would call the subclass's own constructor with the layers, which it cannot take.
    An integer index returns the layer itself.
    """

    def __getitem__(self, idx: int | slice) -> nn.Module:
        if isinstance(idx, slice):
            return nn.Sequential(OrderedDict(list(self._modules.items())[idx]))
        return super().__getitem__(idx)
