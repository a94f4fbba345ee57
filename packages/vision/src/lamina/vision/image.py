"""PIL image types and image I/O: `PILImage`, `PILImageBW`, `PILMask`, `load_image`, `image2tensor`.

`PILImage.create(x)` makes an RGB image from a file name (`str`/`Path`), the bytes of an encoded image,
a numpy array (`(H, W)` or `(H, W, C)`), a tensor (`(H, W)` or channels first `(C, H, W)`) or a PIL image.
`PILImageBW` is the one-channel (mode `L`) version; `PILMask` holds integer class codes (a palette `P`
image keeps its indices, it is not turned into grey levels). A file that cannot be read raises
`ImageReadError` (an `OSError`) naming the file and the reason.

The types are `PIL.Image.Image` subclasses; PIL operations return plain `Image.Image`s, so a transform
re-types its result with `cls.cast(img)`.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

__all__ = [
    "ImageReadError",
    "load_image",
    "image2tensor",
    "PILBase",
    "PILImage",
    "PILImageBW",
    "PILMask",
]


class ImageReadError(OSError):
    """An image file (or buffer) that cannot be opened or decoded; the message names it."""


def _source_name(fn: Any) -> str:
    if isinstance(fn, (bytes, bytearray, memoryview)):
        return f"<{len(fn)} bytes>"
    if isinstance(fn, io.IOBase):
        return getattr(fn, "name", None) or f"<{type(fn).__name__}>"
    return str(fn)


def load_image(fn: str | os.PathLike | bytes | io.IOBase, mode: str | None = None) -> Image.Image:
    """Open and fully decode the image `fn` (a path, the encoded bytes or a binary file object), then
    convert it to `mode` (e.g. `'RGB'`, `'L'`) when given. The file is closed on return.

    Raises `FileNotFoundError` for a missing file and `ImageReadError` for one that is not a readable
    image (unknown format, truncated, corrupt), both naming it.
    """
    name = _source_name(fn)
    source = io.BytesIO(bytes(fn)) if isinstance(fn, (bytes, bytearray, memoryview)) else fn
    if isinstance(source, (str, os.PathLike)) and not os.path.exists(source):
        raise FileNotFoundError(f"load_image: no such image file: {name!r}")
    try:
        with Image.open(source) as im:
            im.load()
            img = im.convert(mode) if mode is not None and im.mode != mode else im.copy()
    except UnidentifiedImageError as e:
        raise ImageReadError(f"load_image: {name!r} is not an image file PIL can identify") from e
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ImageReadError(f"load_image: cannot decode image {name!r}: {e}") from e
    return img


def image2tensor(img: Image.Image | np.ndarray) -> torch.Tensor:
    """An image as a `(C, H, W)` uint8 tensor (a one-channel image gives `C=1`)."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise ValueError(f"image2tensor: expected an image (H, W) or (H, W, C), got shape {a.shape}")
    a = np.ascontiguousarray(a.transpose(2, 0, 1))
    return torch.from_numpy(a if a.flags.writeable else a.copy())


def _array_of(x: Any, who: str) -> np.ndarray:
    """`x` (array or tensor, channels last for arrays, channels first for tensors) as an (H, W[, C]) array."""
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu().as_subclass(torch.Tensor)
        if t.dim() == 3:
            if t.shape[0] not in (1, 3, 4):
                raise ValueError(
                    f"{who}: a 3-d image tensor must be channels first (C, H, W) with C in 1, 3, 4; "
                    f"got shape {tuple(t.shape)}"
                )
            t = t.permute(1, 2, 0)
        a = t.numpy()
    else:
        a = np.asarray(x)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (3, 4)):
        raise ValueError(f"{who}: expected an image of shape (H, W) or (H, W, 3|4), got {a.shape}")
    if a.dtype == np.uint8:
        return a
    if a.dtype == bool:
        return a.astype(np.uint8)
    if a.dtype.kind in "iu":
        if a.size and (a.min() < 0 or a.max() > 255):
            raise ValueError(f"{who}: integer image values must lie in 0..255, got {a.min()}..{a.max()}")
        return a.astype(np.uint8)
    if a.dtype.kind == "f":
        if a.size and (a.min() < 0 or a.max() > 1):
            raise ValueError(
                f"{who}: float image values must lie in 0..1 (got {a.min():.3g}..{a.max():.3g}); "
                "convert to uint8 0..255 first"
            )
        return np.round(a * 255).astype(np.uint8)
    raise TypeError(f"{who}: cannot make an image from an array of dtype {a.dtype}")


class PILBase(Image.Image):
    """Base of the PIL image types: `create` from anything image-like, `show`, `shape`, `n_px`."""

    _mode: str | None = None  # the mode `create` converts to (None: keep the file's)
    _show_args: dict = {"cmap": "viridis"}

    @classmethod
    def cast(cls, img: Image.Image) -> PILBase:
        """Re-type a PIL image as this class (no copy, no mode conversion)."""
        if not isinstance(img, Image.Image):
            raise TypeError(f"{cls.__name__}.cast expects a PIL image, got {type(img).__name__}")
        if type(img) is not cls:
            if type(img) is not Image.Image and not isinstance(img, PILBase):  # e.g. a PngImageFile
                img = img.copy()
            img.__class__ = cls
        return img

    @classmethod
    def _convert(cls, img: Image.Image) -> Image.Image:
        return img if cls._mode is None or img.mode == cls._mode else img.convert(cls._mode)

    @classmethod
    def create(cls, x: Any, mode: str | None = None) -> PILBase:
        """An image from a path, encoded bytes, a file object, an array, a tensor or a PIL image, converted
        to the class's mode (RGB for `PILImage`, L for `PILImageBW`) unless `mode` says otherwise."""
        who = f"{cls.__name__}.create"
        if isinstance(x, (str, os.PathLike, bytes, bytearray, memoryview, io.IOBase)):
            img = load_image(x)
        elif isinstance(x, Image.Image):
            img = x
        elif isinstance(x, (np.ndarray, torch.Tensor)):
            img = Image.fromarray(_array_of(x, who))
        else:
            raise TypeError(
                f"{who}: cannot make an image from a {type(x).__name__}; give a file name, bytes, an array, "
                "a tensor or a PIL image"
            )
        img = img.convert(mode) if mode is not None and img.mode != mode else cls._convert(img)
        return cls.cast(img if img is not x else img.copy())

    @property
    def shape(self) -> tuple[int, int]:
        """`(height, width)`."""
        return self.size[1], self.size[0]

    @property
    def n_px(self) -> int:
        """The number of pixels (width x height)."""
        return self.size[0] * self.size[1]

    @property
    def aspect(self) -> float:
        """Width / height."""
        return self.size[0] / self.size[1]

    def to_bytes_format(self, format: str = "png", **kwargs: Any) -> bytes:
        """The image encoded in `format` (`'png'`, `'jpeg'`, ...), as bytes."""
        buf = io.BytesIO()
        self.save(buf, format=format, **kwargs)
        return buf.getvalue()

    def to_tensor(self) -> torch.Tensor:
        """`image2tensor(self)`: a `(C, H, W)` uint8 tensor."""
        return image2tensor(self)

    def show(self, ctx: Any = None, **kwargs: Any) -> Any:
        """Draw on `ctx` (a matplotlib Axes; a new figure when None) and return the Axes."""
        from lamina.vision.show import show_image

        return show_image(self, ctx=ctx, **{**self._show_args, **kwargs})

    def __repr__(self) -> str:
        return f"{type(self).__name__} mode={self.mode} size={self.size[0]}x{self.size[1]}"


class PILImage(PILBase):
    """An RGB image."""

    _mode = "RGB"


class PILImageBW(PILImage):
    """A one-channel (grey, mode L) image."""

    _mode = "L"
    _show_args = {"cmap": "Greys"}


class PILMask(PILBase):
    """A segmentation mask: one channel of integer class codes (mode L; palette indices are kept)."""

    _mode = "L"
    _show_args = {"alpha": 0.5, "cmap": "tab20", "interpolation": "nearest"}

    @classmethod
    def _convert(cls, img: Image.Image) -> Image.Image:
        if img.mode == "P":  # the codes are the palette indices, not the colours they stand for
            return Image.fromarray(np.asarray(img).astype(np.uint8))
        if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
            return Image.fromarray(_array_of(np.asarray(img), f"{cls.__name__}.create"))
        return super()._convert(img)
