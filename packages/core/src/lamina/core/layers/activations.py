"""`Mish` and `Swish`: thin subclasses of PyTorch's native `nn.Mish` and `nn.SiLU` kernels.

They exist so fastai code that names them runs unchanged and so they record their arguments and
sit in the classes registry; the maths (and speed) is PyTorch's own:
`Mish(x) = x * tanh(softplus(x))`, `Swish(x) = x * sigmoid(x)` (also known as SiLU).
"""

from __future__ import annotations

from torch import nn

from lamina.core.layers.recorded import RecordedInit
from lamina.core.plugins.registry import register_class

__all__ = ["Mish", "Swish"]


@register_class("lamina.core.Mish")
class Mish(RecordedInit, nn.Mish):
    """Mish activation, `x * tanh(softplus(x))` (PyTorch's `nn.Mish`)."""


@register_class("lamina.core.Swish")
class Swish(RecordedInit, nn.SiLU):
    """Swish activation, `x * sigmoid(x)` (PyTorch's `nn.SiLU`)."""
