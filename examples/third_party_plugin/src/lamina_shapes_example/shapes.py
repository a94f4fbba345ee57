"""Drawing simple shapes as images, and `ShapeBlock`, the data block that does it."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch

__all__ = ["SHAPES", "draw_shape", "ShapeBlock"]

SHAPES = ("circle", "square", "triangle")


def draw_shape(kind: str, size: int = 32) -> torch.Tensor:
    """A `1 x size x size` float image of a white `kind` (one of `SHAPES`) on black."""
    if kind not in SHAPES:
        raise ValueError(f"ShapeBlock: cannot draw {kind!r}; the shapes are {', '.join(SHAPES)}")
    if not isinstance(size, int) or size < 4:
        raise ValueError(f"ShapeBlock: size must be an int >= 4, got {size!r}")
    axis = torch.linspace(-1.0, 1.0, size)
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")  # ys grows downwards, like image rows
    if kind == "circle":
        mask = xs**2 + ys**2 <= 0.6**2
    elif kind == "square":
        mask = (xs.abs() <= 0.55) & (ys.abs() <= 0.55)
    else:  # apex at the top, base at the bottom
        mask = (ys <= 0.6) & (xs.abs() <= (ys + 0.6) / 2)
    return mask.to(torch.float32).unsqueeze(0)


class ShapeBlock:
    """The input block of the shapes task: a shape name becomes an image tensor.

    It has the attributes of a data block (`type_tfms`, `item_tfms`, `batch_tfms`). It is
    its own small class for now: once the kernel's `TransformBlock` lands with the data
    layer, this becomes `TransformBlock(type_tfms=partial(draw_shape, size=size))`.
    """

    def __init__(self, size: int = 32) -> None:
        draw_shape(SHAPES[0], size)  # fail now, not at the first item, if size is bad
        self.size = size
        self.type_tfms: tuple[Callable[[str], torch.Tensor], ...] = (partial(draw_shape, size=size),)
        self.item_tfms: tuple[Callable, ...] = ()
        self.batch_tfms: tuple[Callable, ...] = ()

    def __repr__(self) -> str:
        return f"ShapeBlock(size={self.size})"
