"""Crop, pad and resize as one step, the same for PIL images, image/mask tensors, points and boxes.

A `CropStep(left, top, width, height, out_w, out_h)` takes the region `[left, left+width) x [top,
top+height)` of the source (in pixels; it may reach outside the image, which is then padded) and resizes it
to `out_w x out_h`. A point `(x, y)` in the source's pixel coordinates (continuous: pixel `i` spans
`[i, i+1)`) maps to `((x - left) * out_w / width, (y - top) * out_h / height)`: exactly where the pixel
content under it lands, since PIL's and torch's resampling (`align_corners=False`) use the same
continuous coordinates. Boxes map their two corners and are clipped to the output image.

Padding modes: `'zeros'`, `'reflection'` (mirror without repeating the edge pixel), `'border'` (repeat
the edge pixel).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = ["PAD_MODES", "CropStep", "crop_step_pil", "crop_step_tensor", "crop_step_points", "check_pad_mode"]

PAD_MODES = ("zeros", "reflection", "border")
_NUMPY_PAD = {"reflection": "reflect", "border": "edge"}


def check_pad_mode(pad_mode: str, who: str) -> str:
    """`pad_mode`, checked to be one of `PAD_MODES`."""
    if pad_mode not in PAD_MODES:
        raise ValueError(f"{who}: pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
    return pad_mode


@dataclass(frozen=True)
class CropStep:
    """Take region `(left, top, width, height)` of the source (may reach outside it) and resize it to
    `(out_w, out_h)`."""

    left: int
    top: int
    width: int
    height: int
    out_w: int
    out_h: int

    def __post_init__(self):
        if min(self.width, self.height, self.out_w, self.out_h) < 1:
            raise ValueError(f"CropStep: sizes must be positive, got {self}")

    @property
    def resizes(self) -> bool:
        return (self.width, self.height) != (self.out_w, self.out_h)

    def padding(self, w: int, h: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) padding needed on a `w x h` source."""
        return (
            max(0, -self.left),
            max(0, -self.top),
            max(0, self.left + self.width - w),
            max(0, self.top + self.height - h),
        )


def crop_step_pil(img: Image.Image, step: CropStep, pad_mode: str, resample: int) -> Image.Image:
    """Apply `step` to a PIL image (resampling filter `resample`, e.g. `Image.BILINEAR`)."""
    w, h = img.size
    pl, pt, pr, pb = step.padding(w, h)
    left, top = step.left, step.top
    if (pl or pt or pr or pb) and pad_mode != "zeros":  # PIL's crop pads with zeros by itself
        a = np.asarray(img)
        widths = ((pt, pb), (pl, pr)) + (((0, 0),) if a.ndim == 3 else ())
        img = Image.fromarray(np.pad(a, widths, mode=_NUMPY_PAD[pad_mode]))
        left, top = left + pl, top + pt
    box = (left, top, left + step.width, top + step.height)
    if not step.resizes:
        return img.crop(box)
    # crop first, then resize the crop alone (as the tensor path does): the filter sees no pixel outside it
    return img.crop(box).resize((step.out_w, step.out_h), resample)


def _reflect(idx: torch.Tensor, n: int) -> torch.Tensor:
    if n == 1:
        return torch.zeros_like(idx)
    period = 2 * (n - 1)
    i = idx.remainder(period)
    return torch.where(i >= n, period - i, i)


def _source_index(start: int, length: int, n: int, pad_mode: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Source indices of `length` positions from `start` along an axis of size `n`, and for zeros padding
    the mask of positions inside the source (None when every position is inside)."""
    idx = torch.arange(start, start + length)
    if start >= 0 and start + length <= n:
        return idx, None
    if pad_mode == "reflection":
        return _reflect(idx, n), None
    inside = (idx >= 0) & (idx < n)
    return idx.clamp(0, n - 1), (None if pad_mode == "border" else inside)


def crop_step_tensor(t: torch.Tensor, step: CropStep, pad_mode: str, nearest: bool = False) -> torch.Tensor:
    """Apply `step` to an image tensor `(..., H, W)` (any dtype; bilinear with antialiasing, or nearest for
    masks). Integer tensors come back with their dtype (rounded, clamped to the dtype's range)."""
    h, w = t.shape[-2:]
    rows, row_in = _source_index(step.top, step.height, h, pad_mode)
    cols, col_in = _source_index(step.left, step.width, w, pad_mode)
    out = t.index_select(-2, rows).index_select(-1, cols)
    if row_in is not None or col_in is not None:
        keep = torch.ones(step.height, step.width, dtype=torch.bool)
        if row_in is not None:
            keep &= row_in[:, None]
        if col_in is not None:
            keep &= col_in[None, :]
        out = out * keep.to(out.dtype) if out.dtype != torch.bool else out & keep
    if not step.resizes:
        return out
    lead = out.shape[:-2]
    x = out.reshape(-1, 1, step.height, step.width).float()
    size = (step.out_h, step.out_w)
    if nearest:
        x = F.interpolate(x, size=size, mode="nearest-exact")
    else:
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    x = x.reshape(*lead, step.out_h, step.out_w)
    if t.dtype.is_floating_point:
        return x.to(t.dtype)
    if t.dtype == torch.bool:
        return x > 0.5
    info = torch.iinfo(t.dtype)
    return x.round().clamp(info.min, info.max).to(t.dtype)


def crop_step_points(p: torch.Tensor, step: CropStep, clip: bool = False) -> torch.Tensor:
    """Apply `step` to pixel coordinates: `(..., 2)` points, or `(..., 4)` boxes (both corners), clipped to
    the output image when `clip`."""
    width = p.shape[-1]
    offset = torch.tensor([step.left, step.top] * (width // 2), dtype=p.dtype)
    scale = torch.tensor([step.out_w / step.width, step.out_h / step.height] * (width // 2), dtype=p.dtype)
    out = (p - offset) * scale
    if clip:
        limit = torch.tensor([step.out_w, step.out_h] * (width // 2), dtype=p.dtype)
        out = torch.minimum(out.clamp(min=0), limit)
    return out
