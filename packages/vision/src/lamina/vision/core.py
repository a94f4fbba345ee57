"""Vision tensor types: images, masks, points and bounding boxes that keep their meaning through torch ops.

Conventions (shared by every vision transform):

- `TensorImage`: `(C, H, W)` for one image, `(B, C, H, W)` for a batch; uint8 0..255 or float.
- `TensorImageBW`: a one-channel `TensorImage` (shows in grey).
- `TensorMask`: `(H, W)` (or `(B, H, W)`) integer class codes; metadata `codes` (class names) when known.
- `TensorPoint`: `(n, 2)` (or `(B, n, 2)`) points as `(x, y)`, in pixels of an image of size `img_size`
  until `PointScaler` maps them to -1..1 (x: -1 left edge .. 1 right edge; y: -1 top .. 1 bottom).
  Metadata `img_size = (width, height)` (PIL's order).
- `TensorBBox`: `(n, 4)` (or `(B, n, 4)`) boxes as `(x_min, y_min, x_max, y_max)`, same coordinate rules
  and `img_size` metadata as `TensorPoint` (a box is two points: its top-left and bottom-right corners).
- `LabeledBBox`: a pair `(TensorBBox, labels)` (class names or indices), to show decoded detection samples.

Every type shows itself (`.show(ctx=ax)`): images and masks draw on a matplotlib Axes (a mask as a
transparent overlay), points as a scatter, boxes as rectangles. matplotlib is imported only on showing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from lamina.core.tensors import TensorBase

__all__ = [
    "TensorImageBase",
    "TensorImage",
    "TensorImageBW",
    "TensorMask",
    "TensorPoint",
    "TensorBBox",
    "LabeledBBox",
]


class TensorImageBase(TensorBase):
    """Base of the image-like tensors (images and masks): `(C, H, W)` / `(H, W)`, or batches of them."""

    _show_args: dict = {"cmap": "viridis"}
    _pil_type: str = "PILImage"  # the PIL type (in lamina.vision.image) that `create` reads with

    @classmethod
    def create(cls, x: Any, **meta: Any) -> TensorImageBase:
        """From a file name, encoded bytes, an array or a PIL image (read as the matching PIL type, e.g.
        `PILImage` for `TensorImage`, then `(C, H, W)` uint8); a tensor is wrapped as it is (no copy)."""
        if isinstance(x, torch.Tensor):
            return cls(x, **meta)
        from lamina.vision import image

        t = image.image2tensor(getattr(image, cls._pil_type).create(x))
        return cls(t[0] if cls._pil_type == "PILMask" else t, **meta)

    def show(self, ctx: Any = None, **kwargs: Any) -> Any:
        """Draw on `ctx` (a matplotlib Axes; a new figure when None) and return the Axes."""
        from lamina.vision.show import show_image

        return show_image(self, ctx=ctx, **{**self._show_args, **kwargs})


class TensorImage(TensorImageBase):
    """An image (or a batch of images) as a tensor, channels first."""


class TensorImageBW(TensorImage):
    """A one-channel image, shown in grey."""

    _show_args = {"cmap": "Greys"}
    _pil_type = "PILImageBW"


class TensorMask(TensorImageBase):
    """A segmentation mask of integer class codes; `codes` metadata names the classes when known.

    Shows as a transparent colour overlay (alpha 0.5) over whatever the Axes already holds.
    """

    _show_args = {"alpha": 0.5, "cmap": "tab20", "interpolation": "nearest"}
    _pil_type = "PILMask"

    def show(self, ctx: Any = None, **kwargs: Any) -> Any:
        codes = getattr(self, "codes", None)
        if codes is not None and "vmin" not in kwargs:  # fixed colour per class, whatever the mask holds
            kwargs = {"vmin": 0, "vmax": max(len(codes) - 1, 1), **kwargs}
        return super().show(ctx=ctx, **kwargs)


def _as_coords(x: Any, width: int, cls_name: str) -> torch.Tensor:
    """`x` as a float tensor of shape `(n, width)`, with a clear error when it cannot be one."""
    try:
        t = torch.as_tensor(x if not isinstance(x, TensorBase) else x.as_subclass(torch.Tensor))
    except (TypeError, ValueError, RuntimeError) as e:
        raise TypeError(f"{cls_name}.create: cannot make coordinates from {type(x).__name__}: {e}") from e
    t = t.float()
    if t.numel() == 0:
        return t.reshape(0, width)
    if t.dim() == 1 and t.numel() % width == 0:
        t = t.reshape(-1, width)
    if t.dim() != 2 or t.shape[-1] != width:
        raise ValueError(
            f"{cls_name}.create: expected coordinates of shape (n, {width}), got {tuple(t.shape)}"
        )
    return t


def _img_size(img_size: Any, cls_name: str) -> tuple[int, int] | None:
    """`img_size` as `(width, height)`, from a pair, a PIL image or an image tensor `(..., H, W)`."""
    if img_size is None:
        return None
    if isinstance(img_size, torch.Tensor) and img_size.dim() >= 2:
        return int(img_size.shape[-1]), int(img_size.shape[-2])
    if hasattr(img_size, "size") and not callable(img_size.size):  # a PIL image
        img_size = img_size.size
    if isinstance(img_size, int):
        return img_size, img_size
    try:
        w, h = img_size
        return int(w), int(h)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{cls_name}: img_size must be (width, height), got {img_size!r}") from e


class TensorPoint(TensorBase):
    """Points `(n, 2)` as `(x, y)`; metadata `img_size = (width, height)` of the image they lie on."""

    _show_args: dict = {"s": 20, "marker": ".", "c": "red"}

    @classmethod
    def create(cls, x: Any, img_size: Any = None) -> TensorPoint:
        """Points from a list/array/tensor of `(x, y)` pairs (or a flat list), in pixels of `img_size`
        (`(width, height)`, a PIL image or an image tensor)."""
        if img_size is None:
            img_size = getattr(x, "img_size", None)
        return cls(_as_coords(x, 2, cls.__name__), img_size=_img_size(img_size, cls.__name__))

    def show(self, ctx: Any = None, **kwargs: Any) -> Any:
        """Scatter the points on `ctx` (a matplotlib Axes) in pixel coordinates and return the Axes."""
        from lamina.vision.show import show_points

        return show_points(self, ctx=ctx, **{**self._show_args, **kwargs})


class TensorBBox(TensorPoint):
    """Boxes `(n, 4)` as `(x_min, y_min, x_max, y_max)`; metadata `img_size = (width, height)`."""

    _show_args: dict = {}

    @classmethod
    def create(cls, x: Any, img_size: Any = None) -> TensorBBox:
        """Boxes from a list/array/tensor of `(x_min, y_min, x_max, y_max)` rows, in pixels of `img_size`."""
        if img_size is None:
            img_size = getattr(x, "img_size", None)
        return cls(_as_coords(x, 4, cls.__name__), img_size=_img_size(img_size, cls.__name__))

    def show(self, ctx: Any = None, labels: Sequence[str] | None = None, **kwargs: Any) -> Any:
        """Draw the boxes (with `labels` as captions) on `ctx` and return the Axes."""
        from lamina.vision.show import show_boxes

        return show_boxes(self, ctx=ctx, labels=labels, **{**self._show_args, **kwargs})


_NO_LABELS = object()


class LabeledBBox(tuple):
    """A decoded detection target: `(bbox: TensorBBox, lbl)`, labels as class names or indices."""

    def __new__(cls, bbox: Any, lbl: Any = _NO_LABELS) -> LabeledBBox:
        if lbl is _NO_LABELS:  # LabeledBBox((bbox, lbl)), as a transform rebuilds a tuple it went through
            try:
                bbox, lbl = bbox
            except (TypeError, ValueError) as e:
                raise TypeError("LabeledBBox(bbox, lbl) needs boxes and their labels") from e
        return super().__new__(cls, (bbox, lbl))

    @property
    def bbox(self) -> TensorBBox:
        return self[0]

    @property
    def lbl(self) -> Any:
        return self[1]

    def show(self, ctx: Any = None, **kwargs: Any) -> Any:
        """Draw the boxes with their labels (background boxes, label `#na#`, are skipped)."""
        bbox, lbl = self
        labels = [str(o) for o in (lbl.tolist() if isinstance(lbl, torch.Tensor) else lbl)]
        keep = [i for i, name in enumerate(labels) if name != "#na#"]
        box = TensorBBox(torch.as_tensor(bbox)[keep], **getattr(bbox, "__dict__", {}))
        return box.show(ctx=ctx, labels=[labels[i] for i in keep], **kwargs)
