"""The noise a GAN's generator starts from, as `DataBlock` inputs: `generate_noise`, `NoiseBlock`.

A GAN's data are pairs (noise, real image): the generator turns the noise into an image, the critic
compares generated and real images. Build them with a `DataBlock` whose input block makes fresh noise for
every item (so every epoch sees new noise) and whose target block loads the images, either

    DataBlock(blocks=(TransformBlock, ImageBlock), get_x=generate_noise, get_items=..., splitter=...)

(fastai's spelling) or, with `NoiseBlock`, without a `get_x`:

    DataBlock(blocks=(NoiseBlock(100), ImageBlock), get_items=..., splitter=...)

The noise is an `InvisibleTensor`: `show_batch` shows the images only. A small validation split (e.g.
`RandomSplitter(0.05)`) gives validation generator and critic losses; fastai's `IndexSplitter([])` is refused
by Lamina's splitters (empty validation set), and a `DataLoaders` holding only a training loader trains
without validation.
"""

from __future__ import annotations

from typing import Any

import torch

from lamina.core.data.blocks import TransformBlock
from lamina.core.tensors import TensorBase, cast
from lamina.core.transform import ItemTransform

__all__ = ["InvisibleTensor", "generate_noise", "GenerateNoise", "NoiseBlock"]


class InvisibleTensor(TensorBase):
    """A tensor that shows nothing (the noise input of a GAN): `show` returns the context untouched."""

    def show(self, ctx: Any = None, **kwargs: Any) -> Any:
        return ctx


def _check_size(size: Any, where: str) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(
            f"{where}: size (the length of the noise vector) must be a positive int, got {size!r}"
        )
    return size


def generate_noise(fn: Any = None, size: int = 100) -> InvisibleTensor:
    """A fresh standard normal noise vector of length `size`; `fn` (the item) is ignored, so this works as
    a `DataBlock` getter (`get_x=generate_noise`)."""
    return cast(torch.randn(_check_size(size, "generate_noise")), InvisibleTensor)


class GenerateNoise(ItemTransform):
    """Type transform: any item -> `generate_noise(item, size)` (new noise on every call)."""

    def __init__(self, size: int = 100) -> None:
        super().__init__()
        self.size = _check_size(size, "GenerateNoise")

    def encodes(self, x) -> InvisibleTensor:
        return generate_noise(x, self.size)


def NoiseBlock(size: int = 100) -> TransformBlock:
    """The input block of a GAN: every item becomes a fresh noise vector of length `size` (match the
    generator's `in_sz`)."""
    return TransformBlock(type_tfms=GenerateNoise(size))
