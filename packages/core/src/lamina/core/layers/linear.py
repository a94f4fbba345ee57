"""`LinBnDrop`: batch norm, dropout and a linear layer (with an optional activation) in one block."""

from __future__ import annotations

from torch import nn

from lamina.core.layers.norm import BatchNorm
from lamina.core.layers.recorded import RecordedInit
from lamina.core.plugins.registry import register_class

__all__ = ["LinBnDrop"]


@register_class("lamina.core.LinBnDrop")
class LinBnDrop(RecordedInit, nn.Sequential):
    """Batch norm, dropout, linear layer and activation in one block.

    Order: `BatchNorm1d -> Dropout(p) -> Linear -> act`, or with `lin_first`:
    `Linear -> act -> BatchNorm1d -> Dropout`.

    The batch norm (if `bn`) is on the linear layer's input side (`n_in` features), or its output
    side when `lin_first`; the linear layer has a bias only without batch norm. `p=0` adds no dropout.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        bn: bool = True,
        p: float = 0.0,
        act: nn.Module | None = None,
        lin_first: bool = False,
    ) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"LinBnDrop(n_in={n_in}, n_out={n_out}): dropout p must be in [0, 1], got {p!r}")
        norm_drop: list[nn.Module] = [BatchNorm(n_out if lin_first else n_in, ndim=1)] if bn else []
        if p != 0:
            norm_drop.append(nn.Dropout(p))
        linear: list[nn.Module] = [nn.Linear(n_in, n_out, bias=not bn)]
        if act is not None:
            linear.append(act)
        super().__init__(*(linear + norm_drop if lin_first else norm_drop + linear))
