"""`RandomErasing`: replace random rectangles of each image with noise (Zhong et al. 2017), vectorised.

It runs after `Normalize` (`order = 100`) and fills with standard normal noise, i.e. the statistics of a
normalised image. Each image draws its own rectangles (1 to `max_count` of them, with probability `p`);
the rectangles of a batch become one boolean mask built by broadcasting, with no loop over images.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from lamina.vision.augment.rand import RandTransform, first_instance, rand_mask
from lamina.vision.core import TensorImage

__all__ = ["RandomErasing"]


class RandomErasing(RandTransform):
    """With probability `p` per image, erase 1 to `max_count` rectangles covering in all a fraction of the
    image uniform in `[sl, sh]`, each with a height/width aspect log-uniform in `[min_aspect, 1/min_aspect]`,
    filled with standard normal noise. Images only (masks, points and boxes are left alone)."""

    order = 100
    per_item_p = True

    def __init__(
        self,
        p: float = 0.5,
        sl: float = 0.0,
        sh: float = 0.3,
        min_aspect: float = 0.3,
        max_count: int = 1,
        batch: bool = False,
        **kwargs: Any,
    ):
        if not 0.0 <= sl <= sh <= 1.0:
            raise ValueError(f"RandomErasing: need 0 <= sl <= sh <= 1, got sl={sl}, sh={sh}")
        if not 0.0 < min_aspect <= 1.0:
            raise ValueError(f"RandomErasing: min_aspect must be in (0, 1], got {min_aspect}")
        if not isinstance(max_count, int) or max_count < 1:
            raise ValueError(f"RandomErasing: max_count must be an int >= 1, got {max_count!r}")
        super().__init__(p=p, **kwargs)
        self.sl, self.sh, self.min_aspect, self.max_count, self.batch = (
            sl,
            sh,
            min_aspect,
            max_count,
            bool(batch),
        )
        self._erase: Tensor | None = None

    def _uniform(self, shape: tuple[int, ...], device: torch.device) -> Tensor:
        if self.generator is None:
            return torch.rand(shape, device=device)
        return torch.rand(shape, generator=self.generator, device=self.generator.device).to(device)

    def before_call(self, b: Any, split_idx: int | None) -> None:
        super().before_call(b, split_idx)
        self._erase = None
        ref = first_instance(b, TensorImage)
        if ref is None:
            self.do = False
            return
        plain = ref.as_subclass(Tensor)
        if plain.dim() != 4:
            raise ValueError(
                f"RandomErasing: expected a batch of images (bs, C, H, W), got {tuple(plain.shape)}"
            )
        self._erase = self._draw_mask(plain)

    def _draw_mask(self, x: Tensor) -> Tensor:
        """The `(bs, 1, H, W)` boolean mask of the pixels to erase."""
        bs, h, w, k = x.shape[0], x.shape[-2], x.shape[-1], self.max_count
        n, dev = (1 if self.batch else bs), x.device
        u = self._uniform((n, k, 5), dev)
        u_count = self._uniform((n, 1), dev)
        if self.batch:
            u, u_count = u.expand(bs, k, 5), u_count.expand(bs, 1)
        count = torch.floor(u_count * k).clamp(max=k - 1) + 1  # (bs, 1), 1..k
        active = (torch.arange(k, device=dev) < count) & rand_mask(x, self.p, self.generator, self.batch)[
            :, None
        ]
        area = (self.sl + (self.sh - self.sl) * u[..., 0]) * (h * w) / count
        log_r = math.log(self.min_aspect)
        aspect = torch.exp(log_r + (-2 * log_r) * u[..., 1])  # height / width
        eh = torch.sqrt(area * aspect).round().clamp(0, h)
        ew = torch.sqrt(area / aspect).round().clamp(0, w)
        y0 = torch.floor(u[..., 2] * (h - eh + 1)).clamp(max=h - eh)
        x0 = torch.floor(u[..., 3] * (w - ew + 1)).clamp(max=w - ew)
        rows = torch.arange(h, device=dev, dtype=y0.dtype).reshape(1, 1, h, 1)
        cols = torch.arange(w, device=dev, dtype=x0.dtype).reshape(1, 1, 1, w)
        y0, x0, eh, ew = (t[..., None, None] for t in (y0, x0, eh, ew))
        inside = (rows >= y0) & (rows < y0 + eh) & (cols >= x0) & (cols < x0 + ew) & active[..., None, None]
        return inside.any(dim=1, keepdim=True)

    def encodes(self, x: TensorImage):
        plain = x.as_subclass(Tensor)
        erase = self._erase
        if erase is None or plain.shape[0] != erase.shape[0] or plain.shape[-2:] != erase.shape[-2:]:
            raise ValueError(
                f"RandomErasing: an image batch of shape {tuple(plain.shape)} does not match the batch's "
                "first image batch"
            )
        if not plain.is_floating_point():
            raise TypeError(
                f"RandomErasing: needs float (normalised) images, got dtype {plain.dtype}; it runs after "
                "Normalize"
            )
        if self.generator is None:
            noise = torch.randn_like(plain)
        else:
            g = self.generator
            noise = torch.randn(plain.shape, generator=g, device=g.device, dtype=plain.dtype).to(plain.device)
        return torch.where(erase, noise, plain)
