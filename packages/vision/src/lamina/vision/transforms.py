"""Vision item transforms: resize and crop (applied alike to every part of a sample), `PointScaler`,
the `ToTensor` cases for PIL types and `IntToFloatTensor`.

Geometry transforms (`Resize`, `RandomResizedCrop`, `RandomCrop`, `CropPad`) draw their parameters once
per sample from its first image (or mask), then apply the same crop/pad/resize to every part: images
(bilinear), masks (nearest), points and boxes (exact coordinate maps, boxes clipped to the new image).
They work on PIL images and on image/mask tensors. Random choices happen only for the training split
(`split_idx=0`); for validation, and when called directly (`tfm(img)`), they are deterministic (centred).

Coordinates: before `PointScaler` (order 6, after these and `ToTensor`), points and boxes are in pixels
of the image they belong to (`img_size` metadata); `PointScaler` maps them to -1..1, which batch
transforms expect, and decodes them back to pixels.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image

from lamina.core.data.transforms import ToTensor
from lamina.core.transform import DisplayedTransform, ItemTransform, Transform
from lamina.vision.core import (
    TensorBBox,
    TensorImage,
    TensorImageBase,
    TensorImageBW,
    TensorMask,
    TensorPoint,
)
from lamina.vision.geometry import (
    CropStep,
    check_pad_mode,
    crop_step_pil,
    crop_step_points,
    crop_step_tensor,
)
from lamina.vision.image import PILBase, PILImage, PILImageBW, PILMask, image2tensor

__all__ = [
    "RESIZE_METHODS",
    "SpatialTransform",
    "Resize",
    "RandomResizedCrop",
    "RandomCrop",
    "CropPad",
    "PointScaler",
    "IntToFloatTensor",
    "sample_image_size",
]

RESIZE_METHODS = ("crop", "squish", "pad")


def _size_wh(size: int | Sequence[int], who: str) -> tuple[int, int]:
    """`size` (an int, or `(height, width)`) as `(width, height)`."""
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{who}: size must be an int or (height, width), got {size!r}") from e
    if h < 1 or w < 1:
        raise ValueError(f"{who}: size must be positive, got {size!r}")
    return w, h


def _parts(x: Any) -> tuple:
    return tuple(x) if isinstance(x, tuple) and not hasattr(x, "_fields") else (x,)


def sample_image_size(x: Any) -> tuple[int, int] | None:
    """`(width, height)` of the first image or mask of sample `x` (a tuple, or one value); for a sample
    without one, the `img_size` of its first points/boxes; None when nothing tells."""
    parts = _parts(x)
    for p in parts:
        if isinstance(p, Image.Image):
            return p.size
        if isinstance(p, TensorImageBase) and p.dim() >= 2:
            return int(p.shape[-1]), int(p.shape[-2])
    for p in parts:
        if isinstance(p, TensorPoint) and getattr(p, "img_size", None) is not None:
            return tuple(p.img_size)
    return None


class SpatialTransform(Transform):
    """Base of the geometry item transforms: `plan(size, split_idx)` returns the `CropStep`s for a source of
    `size = (width, height)`; every image, mask, point and box of the sample then goes through them.

    `pad_mode` fills what lies outside the source; `resamples` are the PIL filters for images and masks.
    """

    order = 1

    def __init__(
        self,
        pad_mode: str = "reflection",
        resamples: tuple[int, int] = (Image.BILINEAR, Image.NEAREST),
    ):
        super().__init__()
        self.pad_mode = check_pad_mode(pad_mode, type(self).__name__)
        self.resamples = tuple(resamples)
        self._steps: list[CropStep] | None = None
        self._source: tuple[int, int] | None = None

    def plan(self, size: tuple[int, int], split_idx: int | None) -> list[CropStep]:
        raise NotImplementedError

    def __call__(self, x: Any, split_idx: int | None = None, **kwargs: Any) -> Any:
        if x is None:  # a sample dropped upstream (an unreadable image, with skip_bad)
            return None
        if self.split_idx is not None and split_idx != self.split_idx:
            return x
        size = sample_image_size(x)
        self._source = size
        self._steps = None if size is None else self.plan(size, split_idx)
        return super().__call__(x, split_idx=split_idx, **kwargs)

    def _checked_steps(self, size: tuple[int, int] | None, what: str) -> list[CropStep]:
        if self._steps is None:
            raise ValueError(
                f"{type(self).__name__}: cannot place {what} without the image size: transform them together "
                "with their image, or give them an img_size"
            )
        if size is not None and tuple(size) != tuple(self._source):
            raise ValueError(
                f"{type(self).__name__}: {what} of size {tuple(size)} (width, height) does not match the "
                f"sample's image size {tuple(self._source)}"
            )
        return self._steps

    def encodes(self, x: Image.Image):
        steps = self._checked_steps(x.size, f"a {type(x).__name__}")
        resample = self.resamples[1] if isinstance(x, PILMask) else self.resamples[0]
        out = x
        for s in steps:
            out = crop_step_pil(out, s, self.pad_mode, resample)
        return type(x).cast(out) if isinstance(x, PILBase) else out

    def encodes(self, x: TensorImageBase):  # noqa: F811 (one case per type)
        if x.dim() < 2:
            raise ValueError(
                f"{type(self).__name__}: an image tensor needs (..., H, W), got {tuple(x.shape)}"
            )
        steps = self._checked_steps((int(x.shape[-1]), int(x.shape[-2])), f"a {type(x).__name__}")
        out = x.as_subclass(torch.Tensor)
        for s in steps:
            out = crop_step_tensor(out, s, self.pad_mode, nearest=isinstance(x, TensorMask))
        return type(x)(out, **x.__dict__)

    def encodes(self, x: TensorPoint):  # noqa: F811
        steps = self._checked_steps(getattr(x, "img_size", None), f"a {type(x).__name__}")
        out = x.as_subclass(torch.Tensor).float()
        for s in steps:
            out = crop_step_points(out, s, clip=isinstance(x, TensorBBox))
        last = steps[-1]
        return type(x)(out, **{**x.__dict__, "img_size": (last.out_w, last.out_h)})


def _split_pcts(split_idx: int | None) -> tuple[float, float]:
    """Where a crop sits: random for training, centred otherwise."""
    return (random.random(), random.random()) if split_idx == 0 else (0.5, 0.5)


class Resize(SpatialTransform, DisplayedTransform):
    """Resize to `size` (an int or `(height, width)`).

    `method`: `'crop'` takes the largest region of the target's aspect ratio (random position in training,
    centred otherwise) and resizes it; `'squish'` resizes the whole image, changing its aspect ratio;
    `'pad'` pads the image to the target's aspect ratio (with `pad_mode`) and resizes it.
    """

    def __init__(
        self,
        size: int | Sequence[int],
        method: str = "crop",
        pad_mode: str = "reflection",
        resamples: tuple[int, int] = (Image.BILINEAR, Image.NEAREST),
    ):
        super().__init__(pad_mode=pad_mode, resamples=resamples)
        if method not in RESIZE_METHODS:
            raise ValueError(f"Resize: method must be one of {RESIZE_METHODS}, got {method!r}")
        self.size, self.method = size, method
        self._out = _size_wh(size, "Resize")

    def plan(self, size: tuple[int, int], split_idx: int | None) -> list[CropStep]:
        w, h = size
        out_w, out_h = self._out
        if self.method == "squish":
            return [CropStep(0, 0, w, h, out_w, out_h)]
        pick = min if self.method == "crop" else max
        m = pick(w / out_w, h / out_h)
        cw, ch = max(1, round(m * out_w)), max(1, round(m * out_h))
        if self.method == "crop":
            cw, ch = min(cw, w), min(ch, h)
        px, py = _split_pcts(split_idx)
        return [CropStep(round(px * (w - cw)), round(py * (h - ch)), cw, ch, out_w, out_h)]


class RandomResizedCrop(SpatialTransform, DisplayedTransform):
    """Training: crop a random region (area `min_scale..max_scale` of the image, aspect ratio in `ratio`)
    and resize it to `size`. Validation: resize the whole image to `size` plus a margin of `val_xtra` (rounded
    up to a multiple of 8 pixels) and take the centre `size`."""

    def __init__(
        self,
        size: int | Sequence[int],
        min_scale: float = 0.08,
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        resamples: tuple[int, int] = (Image.BILINEAR, Image.NEAREST),
        val_xtra: float = 0.14,
        max_scale: float = 1.0,
        pad_mode: str = "reflection",
    ):
        super().__init__(pad_mode=pad_mode, resamples=resamples)
        if not 0 < min_scale <= max_scale <= 1:
            raise ValueError(
                f"RandomResizedCrop: need 0 < min_scale <= max_scale <= 1, got {min_scale}, {max_scale}"
            )
        if not 0 < ratio[0] <= ratio[1]:
            raise ValueError(
                f"RandomResizedCrop: ratio must be (low, high) with 0 < low <= high, got {ratio}"
            )
        self.size, self.min_scale, self.max_scale = size, min_scale, max_scale
        self.ratio, self.val_xtra = tuple(ratio), val_xtra
        self._out = _size_wh(size, "RandomResizedCrop")

    def plan(self, size: tuple[int, int], split_idx: int | None) -> list[CropStep]:
        w, h = size
        out_w, out_h = self._out
        if split_idx != 0:
            xtra = math.ceil(max(out_w, out_h) * self.val_xtra / 8) * 8
            big_w, big_h = out_w + xtra, out_h + xtra
            return [
                CropStep(0, 0, w, h, big_w, big_h),
                CropStep((big_w - out_w) // 2, (big_h - out_h) // 2, out_w, out_h, out_w, out_h),
            ]
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            area = random.uniform(self.min_scale, self.max_scale) * w * h
            r = math.exp(random.uniform(*log_ratio))
            cw, ch = round(math.sqrt(area * r)), round(math.sqrt(area / r))
            if 1 <= cw <= w and 1 <= ch <= h:
                left, top = random.randint(0, w - cw), random.randint(0, h - ch)
                return [CropStep(left, top, cw, ch, out_w, out_h)]
        if w / h < self.ratio[0]:  # fall back on the centre crop with the closest allowed ratio
            cw, ch = w, max(1, round(w / self.ratio[0]))
        elif w / h > self.ratio[1]:
            cw, ch = max(1, round(h * self.ratio[1])), h
        else:
            cw, ch = w, h
        return [CropStep((w - cw) // 2, (h - ch) // 2, cw, ch, out_w, out_h)]


class RandomCrop(SpatialTransform, DisplayedTransform):
    """Crop `size` at a random position in training (padding with `pad_mode` when the image is smaller),
    at the centre otherwise."""

    def __init__(self, size: int | Sequence[int], pad_mode: str = "zeros"):
        super().__init__(pad_mode=pad_mode)
        self.size = size
        self._out = _size_wh(size, "RandomCrop")

    def plan(self, size: tuple[int, int], split_idx: int | None) -> list[CropStep]:
        w, h = size
        out_w, out_h = self._out
        if split_idx == 0:
            dw, dh = w - out_w, h - out_h
            left = random.randint(*((dw, 0) if dw < 0 else (0, dw)))
            top = random.randint(*((dh, 0) if dh < 0 else (0, dh)))
        else:
            left, top = (w - out_w) // 2, (h - out_h) // 2
        return [CropStep(left, top, out_w, out_h, out_w, out_h)]


class CropPad(SpatialTransform, DisplayedTransform):
    """Centre crop (or pad, with `pad_mode`) to `size`, in every split."""

    def __init__(self, size: int | Sequence[int], pad_mode: str = "zeros"):
        super().__init__(pad_mode=pad_mode)
        self.size = size
        self._out = _size_wh(size, "CropPad")

    def plan(self, size: tuple[int, int], split_idx: int | None) -> list[CropStep]:
        w, h = size
        out_w, out_h = self._out
        return [CropStep((w - out_w) // 2, (h - out_h) // 2, out_w, out_h, out_w, out_h)]


# ---- points ---------------------------------------------------------------------------------------------
class PointScaler(ItemTransform):
    """Points and boxes from pixels to -1..1 of their image (and back when decoding).

    The image size comes from the sample's image (or the points' own `img_size`). `y_first=True` reads the
    points as `(y, x)` (row, column) and turns them into `(x, y)`.
    """

    order = 6

    def __init__(self, do_scale: bool = True, y_first: bool = False):
        super().__init__()
        self.do_scale, self.y_first = do_scale, y_first

    def encodes(self, x):
        if x is None:
            return None
        size = sample_image_size(x)
        out = [self._scale(p, size) if isinstance(p, TensorPoint) else p for p in _parts(x)]
        return tuple(out) if isinstance(x, tuple) else out[0]

    def decodes(self, x):
        out = [self._unscale(p) if isinstance(p, TensorPoint) else p for p in _parts(x)]
        return tuple(out) if isinstance(x, tuple) else out[0]

    def _scale(self, p: TensorPoint, size: tuple[int, int] | None) -> TensorPoint:
        if size is None:
            raise ValueError(
                f"PointScaler: no image size for a {type(p).__name__}: put it in a sample with its image, "
                "or create it with img_size=(width, height)"
            )
        coords = p.as_subclass(torch.Tensor).float()
        if self.y_first:
            coords = coords.flip(-1) if not isinstance(p, TensorBBox) else coords[..., [1, 0, 3, 2]]
        if self.do_scale:
            coords = coords / _halves(size, coords.shape[-1]) - 1
        return type(p)(coords, **{**p.__dict__, "img_size": tuple(size)})

    def _unscale(self, p: TensorPoint) -> TensorPoint:
        size = getattr(p, "img_size", None)
        if not self.do_scale or size is None:
            return p
        coords = p.as_subclass(torch.Tensor).float()
        return type(p)((coords + 1) * _halves(size, coords.shape[-1]), **p.__dict__)


def _halves(size: tuple[int, int], width: int) -> torch.Tensor:
    """`(w / 2, h / 2)` repeated for each corner of a row of `width` coordinates."""
    w, h = size
    return torch.tensor([w / 2, h / 2] * (width // 2))


# ---- tensors --------------------------------------------------------------------------------------------
@ToTensor.encodes
def _pil_image_to_tensor(self, o: PILImage) -> TensorImage:
    return TensorImage(image2tensor(o))


@ToTensor.encodes
def _pil_image_bw_to_tensor(self, o: PILImageBW) -> TensorImageBW:
    return TensorImageBW(image2tensor(o))


@ToTensor.encodes
def _pil_mask_to_tensor(self, o: PILMask) -> TensorMask:
    return TensorMask(image2tensor(o)[0])


class IntToFloatTensor(DisplayedTransform):
    """Batch transform: integer images to floats divided by `div` (0..1 for bytes), masks to `long` codes
    divided by `div_mask`; decodes images back to integers."""

    order = 10

    def __init__(self, div: float = 255.0, div_mask: int = 1):
        super().__init__()
        self.div, self.div_mask = div, div_mask

    def encodes(self, o: TensorImage):
        return o.float().div_(self.div) if self.div else o.float()

    def encodes(self, o: TensorMask):  # noqa: F811
        return o.long() // self.div_mask if self.div_mask != 1 else o.long()

    def decodes(self, o: TensorImage):
        if not self.div or not o.is_floating_point():
            return o
        out = (o.clamp(0.0, 1.0) * self.div).round()
        return out.to(torch.uint8) if self.div <= 255 else out.long()
