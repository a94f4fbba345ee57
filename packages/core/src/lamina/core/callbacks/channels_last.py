"""`ChannelsLast`: the model's 4-d weights and the 4-d inputs in `torch.channels_last` memory format
(NHWC), which convolutions run faster in on recent GPUs, above all under mixed precision; and the
`learn.to_channels_last()` / `learn.to_contiguous()` switches."""

from __future__ import annotations

from typing import Any

import torch

from lamina.core.basics.meta import patch
from lamina.core.learner.callback import Callback
from lamina.core.learner.learner import Learner

__all__ = ["ChannelsLast"]


def _channels_last(x: Any) -> Any:
    if isinstance(x, torch.Tensor) and x.ndim == 4 and x.is_floating_point():
        return x.contiguous(memory_format=torch.channels_last)  # no copy when it already is
    return x


class ChannelsLast(Callback):
    """Put the model in channels-last format at the start of each fit (and of `validate`/`get_preds`)
    and each 4-d floating input batch before it reaches the model. The model stays channels-last after
    the fit (its weights and saved state are the same numbers); `learn.to_contiguous()` reverts it.
    Runs after `MixedPrecision` and the batch-changing callbacks (order 11)."""

    order = 11

    def before_fit(self) -> None:
        self.learn.model.to(memory_format=torch.channels_last)

    def before_batch(self) -> None:
        xb = self.learn.xb
        converted = tuple(_channels_last(x) for x in xb)
        if any(a is not b for a, b in zip(converted, xb)):
            self.learn.xb = converted


@patch
def to_channels_last(self: Learner) -> Learner:
    """Train with `ChannelsLast` from now on (added once); returns the learner."""
    if not any(isinstance(cb, ChannelsLast) for cb in self.cbs):
        self.add_cb(ChannelsLast())
    return self


@patch
def to_contiguous(self: Learner) -> Learner:
    """Detach `ChannelsLast` and put the model back in the default (contiguous) memory format."""
    self.remove_cb(ChannelsLast)
    self.model.to(memory_format=torch.contiguous_format)
    return self
