"""`SequentialEx`: a sequence of layers where a layer may also see the block's original input.

The mechanism: a layer that sets the class attribute `takes_block_input = True` is called by
`SequentialEx` as `layer(out, orig)`: `out` is the output of the previous layer, `orig` the input
of the whole block. Every other layer is called as `layer(out)`. Nothing is attached to tensors.
`BlockInputLayer` is a convenience base class for such layers; `MergeLayer` (residual add or
DenseNet concatenation) and `ProdLayer` (gating, as in squeeze-excitation) are the built-in ones.
Outside a `SequentialEx`, call them with both tensors: `MergeLayer()(out, orig)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import ClassVar

import torch
from torch import Tensor, nn

from lamina.core.layers.recorded import RecordedInit
from lamina.core.plugins.registry import register_class

__all__ = ["SequentialEx", "BlockInputLayer", "MergeLayer", "ProdLayer"]


@register_class("lamina.core.SequentialEx")
class SequentialEx(RecordedInit, nn.Module):
    """Like `nn.Sequential`, but layers with `takes_block_input = True` also get the block's input."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, nn.Module):
                raise TypeError(f"SequentialEx: layer {i} is {layer!r}, not an nn.Module")
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor) -> Tensor:
        out = x
        for layer in self.layers:
            out = layer(out, x) if getattr(layer, "takes_block_input", False) else layer(out)
        return out

    def _sync_init_args(self) -> None:
        if type(self).__init__ is SequentialEx.__init__:  # a subclass's own arguments cannot follow the edit
            self._init_args = {"layers": tuple(self.layers)}

    def append(self, layer: nn.Module) -> SequentialEx:
        """Add `layer` at the end."""
        self.layers.append(layer)
        self._sync_init_args()
        return self

    def extend(self, layers: Iterable[nn.Module]) -> SequentialEx:
        """Add `layers` at the end."""
        self.layers.extend(layers)
        self._sync_init_args()
        return self

    def insert(self, index: int, layer: nn.Module) -> None:
        """Insert `layer` before position `index`."""
        self.layers.insert(index, layer)
        self._sync_init_args()

    def __getitem__(self, index: int) -> nn.Module:
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[nn.Module]:
        return iter(self.layers)


class BlockInputLayer(nn.Module):
    """Base for layers whose `forward(x, orig)` also takes the input of the enclosing `SequentialEx`."""

    takes_block_input: ClassVar[bool] = True

    def _needs_orig(self, orig: Tensor | None) -> Tensor:
        if orig is None:
            raise TypeError(
                f"{type(self).__name__} needs the block's original input: put it in a SequentialEx, "
                f"or call it as layer(out, orig)"
            )
        return orig


@register_class("lamina.core.MergeLayer")
class MergeLayer(RecordedInit, BlockInputLayer):
    """Add the block's input to the output (residual), or with `dense=True` concatenate them on dim 1."""

    def __init__(self, dense: bool = False) -> None:
        super().__init__()
        self.dense = dense

    def forward(self, x: Tensor, orig: Tensor | None = None) -> Tensor:
        orig = self._needs_orig(orig)
        if self.dense:
            if (
                x.ndim != orig.ndim
                or x.ndim < 2
                or x.shape[:1] + x.shape[2:] != orig.shape[:1] + orig.shape[2:]
            ):
                raise ValueError(
                    f"MergeLayer(dense=True): cannot concatenate the output of shape {tuple(x.shape)} "
                    f"with the block input of shape {tuple(orig.shape)} on dim 1; all other dims must match"
                )
            return torch.cat([x, orig], dim=1)
        if x.shape != orig.shape:
            raise ValueError(
                f"MergeLayer: the output of shape {tuple(x.shape)} cannot be added to the block input "
                f"of shape {tuple(orig.shape)}; a residual connection needs equal shapes"
            )
        return x + orig

    def extra_repr(self) -> str:
        return f"dense={self.dense}"


@register_class("lamina.core.ProdLayer")
class ProdLayer(RecordedInit, BlockInputLayer):
    """Multiply the block's input by the output (broadcasting), e.g. channel gates in `SEModule`."""

    def __init__(self) -> None:
        super().__init__()

    def forward(self, x: Tensor, orig: Tensor | None = None) -> Tensor:
        return self._needs_orig(orig) * x
