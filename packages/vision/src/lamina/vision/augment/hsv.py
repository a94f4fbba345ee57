"""RGB <-> HSV conversion of image batches on their device (vectorised, no per-pixel Python)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["rgb2hsv", "hsv2rgb"]


def _check_rgb(x: Tensor, fn: str) -> None:
    if x.dim() < 3 or x.shape[-3] != 3:
        raise ValueError(f"{fn}: expected images with 3 channels (..., 3, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{fn}: expected float images in [0, 1], got dtype {x.dtype}")


def rgb2hsv(x: Tensor) -> Tensor:
    """RGB images `(..., 3, H, W)` in [0, 1] -> HSV with hue, saturation and value in [0, 1]."""
    _check_rgb(x, "rgb2hsv")
    r, g, b = x.unbind(-3)
    maxc = torch.maximum(torch.maximum(r, g), b)
    minc = torch.minimum(torch.minimum(r, g), b)
    delta = maxc - minc
    s = torch.where(maxc > 0, delta / torch.where(maxc > 0, maxc, 1.0), 0.0)
    safe = torch.where(delta > 0, delta, 1.0)
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    h = torch.where(r == maxc, bc - gc, torch.where(g == maxc, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.where(delta > 0, torch.remainder(h / 6.0, 1.0), 0.0)
    return torch.stack([h, s, maxc], dim=-3)


def hsv2rgb(x: Tensor) -> Tensor:
    """HSV images `(..., 3, H, W)` (hue in [0, 1), wrapping around) -> RGB in [0, 1]."""
    _check_rgb(x, "hsv2rgb")
    h, s, v = x.unbind(-3)
    h6 = torch.remainder(h, 1.0) * 6.0
    sector = torch.floor(h6)
    f = h6 - sector
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    idx = sector.long().clamp_(0, 5).unsqueeze(0)
    r = torch.stack([v, q, p, p, t, v]).gather(0, idx).squeeze(0)
    g = torch.stack([t, v, v, q, p, p]).gather(0, idx).squeeze(0)
    b = torch.stack([p, p, t, v, v, q]).gather(0, idx).squeeze(0)
    return torch.stack([r, g, b], dim=-3)
