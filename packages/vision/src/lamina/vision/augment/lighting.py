"""Lighting augmentations of image batches, composed into one pass per colour space.

`LightingTfm` works on logits: `sigmoid(f_n(...f_1(logit(x))))`, so brightness (a shift), contrast (a
scale) and saturation (a blend with the grey image) can never push a pixel out of (0, 1), and any number
of them cost one `logit` and one `sigmoid`. `HSVTfm` does the same in HSV space (`Hue`). Both expect float
images in [0, 1] (after `IntToFloatTensor`, before `Normalize`: `order = 40`) and compute in float32.

Each augmentation draws its change per image, applied with probability `p` (`batch=True`: one draw for
the batch; `draw`: fixed values, a number, one per image or a function of the batch). `compose` (used by
`setup_aug_tfms`) merges transforms of the same space into one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from lamina.vision.augment.hsv import hsv2rgb, rgb2hsv
from lamina.vision.augment.rand import (
    RandTransform,
    first_instance,
    rand_log_uniform,
    rand_mask,
    rand_uniform,
    resolve_draw,
)
from lamina.vision.core import TensorImage

__all__ = [
    "logit",
    "LightingTfm",
    "Brightness",
    "Contrast",
    "Saturation",
    "HSVTfm",
    "Hue",
    "grayscale",
]

_EPS = 1e-7
_GREY_WEIGHTS = (0.2989, 0.587, 0.114)  # ITU-R 601 luma


def logit(x: Tensor, eps: float = _EPS) -> Tensor:
    """The inverse of `sigmoid`, with `x` clamped to `[eps, 1 - eps]` first."""
    return torch.logit(x, eps=eps)


def grayscale(x: Tensor) -> Tensor:
    """The luma `(bs, 1, H, W)` of RGB images `(bs, 3, H, W)`."""
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"grayscale: expected RGB images (bs, 3, H, W), got shape {tuple(x.shape)}")
    wr, wg, wb = _GREY_WEIGHTS
    return wr * x[:, 0:1] + wg * x[:, 1:2] + wb * x[:, 2:3]


class _DrawnStep:
    """A step of a colour transform: values drawn per image (`draw(x) -> (bs,)`), then `apply(y, values)`."""

    def __init__(
        self, draw: Callable[[Tensor], Tensor], apply: Callable[[Tensor, Tensor], Tensor], label: str
    ):
        self.draw, self.apply, self.label = draw, apply, label
        self.values: Tensor | None = None

    def before_call(self, x: Tensor) -> None:
        self.values = self.draw(x)

    def __call__(self, y: Tensor) -> Tensor:
        return self.apply(y, self.values.to(y.dtype).reshape(-1, 1, 1, 1))

    def __repr__(self) -> str:
        return self.label


class _ColourSpaceTfm(RandTransform):
    """Steps run on the images of a batch in one colour space (`_to_space` ... `_from_space`)."""

    order = 40
    space = ""

    def __init__(self, fs: Callable | Sequence[Callable] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        fs = [] if fs is None else list(fs) if isinstance(fs, (list, tuple)) else [fs]
        for f in fs:
            if not callable(f):
                raise TypeError(f"{type(self).__name__}: every item of fs must be callable, got {f!r}")
        self.fs = fs

    def _to_space(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def _from_space(self, y: Tensor) -> Tensor:
        raise NotImplementedError

    def before_call(self, b: Any, split_idx: int | None) -> None:
        super().before_call(b, split_idx)
        if not self.do:
            return
        ref = first_instance(b, TensorImage)
        if ref is None:
            self.do = False  # no image to change (masks, points and boxes are left alone)
            return
        plain = ref.as_subclass(Tensor)
        if plain.dim() != 4:
            raise ValueError(
                f"{type(self).__name__}: expected a batch of images (bs, C, H, W), got shape "
                f"{tuple(plain.shape)}"
            )
        self._bs = plain.shape[0]
        for f in self.fs:
            if hasattr(f, "before_call"):
                f.before_call(plain)

    def encodes(self, x: TensorImage):
        plain = x.as_subclass(Tensor)
        if not plain.is_floating_point():
            raise TypeError(
                f"{type(self).__name__}: needs float images in [0, 1], got dtype {plain.dtype}; put "
                "IntToFloatTensor before it"
            )
        if plain.dim() != 4 or plain.shape[0] != self._bs:
            raise ValueError(
                f"{type(self).__name__}: an image batch of shape {tuple(plain.shape)} does not match the "
                f"batch's first image batch ({self._bs} items)"
            )
        y = self._to_space(plain.float())
        for f in self.fs:
            y = f(y)
        return self._from_space(y).to(plain.dtype)

    def compose(self, other: _ColourSpaceTfm) -> _ColourSpaceTfm:
        """One transform running this one's steps then `other`'s (same colour space, same split)."""
        base = _space_class(self)
        if _space_class(other) is not base:
            raise TypeError(
                f"cannot merge {type(self).__name__} ({self.space}) and {type(other).__name__} "
                f"({getattr(other, 'space', '?')}): different colour spaces"
            )
        for t in (self, other):
            if not t.per_item_p and t.p < 1.0:
                raise ValueError(f"cannot merge {type(t).__name__}: it applies to whole batches with p={t.p}")
        if self.split_idx != other.split_idx:
            raise ValueError(
                f"cannot merge {type(self).__name__} (split_idx={self.split_idx}) and {type(other).__name__} "
                f"(split_idx={other.split_idx})"
            )
        res = base(self.fs + other.fs)
        res.split_idx = self.split_idx
        return res


def _space_class(t: Any) -> type | None:
    for cls in (LightingTfm, HSVTfm):
        if isinstance(t, cls):
            return cls
    return None


class LightingTfm(_ColourSpaceTfm):
    """Steps `f(logits) -> logits` run between one `logit` and one `sigmoid` of the images.

    A step may have `before_call(x)`, called once per batch with the plain image batch to draw values."""

    space = "logit"

    def _to_space(self, x: Tensor) -> Tensor:
        return logit(x)

    def _from_space(self, y: Tensor) -> Tensor:
        return torch.sigmoid(y)


class HSVTfm(_ColourSpaceTfm):
    """Steps `f(hsv) -> hsv` run between one `rgb2hsv` and one `hsv2rgb` of RGB images (saturation and
    value are clipped to [0, 1], hue wraps around)."""

    space = "hsv"

    def _to_space(self, x: Tensor) -> Tensor:
        return rgb2hsv(x)

    def _from_space(self, y: Tensor) -> Tensor:
        h, sv = y[:, :1], y[:, 1:].clamp(0.0, 1.0)
        return hsv2rgb(torch.cat([h, sv], dim=1))


def _check_max(value: float, arg: str, owner: str) -> float:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{owner}: {arg} must be in [0, 1), got {value}")
    return value


class _DrawnColourAug:
    """Mixin of the drawn augmentations: `per_item_p`, `batch`, `draw`, and the masked draw of a value."""

    per_item_p = True

    def _masked(self, x: Tensor, random: Callable[[], Tensor], neutral: float) -> Tensor:
        values = resolve_draw(self.draw, x, random, f"{type(self).__name__}(draw=...)")
        return torch.where(rand_mask(x, self.p, self.generator, self.batch), values, neutral)


class Brightness(_DrawnColourAug, LightingTfm):
    """Change each image's brightness with probability `p`: add `logit(c)` to its logits, `c` uniform in
    `0.5 * (1 ± max_lighting)` (`draw`: fixed `c` in (0, 1); 0.5 changes nothing)."""

    def __init__(
        self, max_lighting: float = 0.2, p: float = 0.75, draw: Any = None, batch: bool = False, **kwargs: Any
    ):
        self.max_lighting = _check_max(max_lighting, "max_lighting", "Brightness")
        self.draw, self.batch = draw, bool(batch)
        super().__init__(_DrawnStep(self._draw, _shift_by_logit, "brightness"), p=p, **kwargs)

    def _draw(self, x: Tensor) -> Tensor:
        m = self.max_lighting
        rand = lambda: rand_uniform(x, 0.5 * (1 - m), 0.5 * (1 + m), self.generator, self.batch)
        return self._masked(x, rand, 0.5)


def _shift_by_logit(y: Tensor, c: Tensor) -> Tensor:
    return y + logit(c)


class Contrast(_DrawnColourAug, LightingTfm):
    """Change each image's contrast with probability `p`: scale its logits by a factor log-uniform in
    `[1 - max_lighting, 1 / (1 - max_lighting)]` (`draw`: fixed factor; 1 changes nothing)."""

    def __init__(
        self, max_lighting: float = 0.2, p: float = 0.75, draw: Any = None, batch: bool = False, **kwargs: Any
    ):
        self.max_lighting = _check_max(max_lighting, "max_lighting", "Contrast")
        self.draw, self.batch = draw, bool(batch)
        super().__init__(_DrawnStep(self._draw, _scale, "contrast"), p=p, **kwargs)

    def _draw(self, x: Tensor) -> Tensor:
        m = self.max_lighting
        rand = lambda: rand_log_uniform(x, 1 - m, 1 / (1 - m), self.generator, self.batch)
        return self._masked(x, rand, 1.0)


def _scale(y: Tensor, c: Tensor) -> Tensor:
    return y * c


class Saturation(_DrawnColourAug, LightingTfm):
    """Change each RGB image's saturation with probability `p`: blend its logits with their grey version,
    `grey + c * (logits - grey)`, `c` log-uniform in `[1 - max_lighting, 1 / (1 - max_lighting)]` (`draw`:
    fixed `c`; 1 changes nothing, 0 gives grey)."""

    def __init__(
        self, max_lighting: float = 0.2, p: float = 0.75, draw: Any = None, batch: bool = False, **kwargs: Any
    ):
        self.max_lighting = _check_max(max_lighting, "max_lighting", "Saturation")
        self.draw, self.batch = draw, bool(batch)
        super().__init__(_DrawnStep(self._draw, _saturate, "saturation"), p=p, **kwargs)

    def _draw(self, x: Tensor) -> Tensor:
        if x.shape[1] != 3:
            raise ValueError(f"Saturation: needs RGB images (bs, 3, H, W), got shape {tuple(x.shape)}")
        m = self.max_lighting
        rand = lambda: rand_log_uniform(x, 1 - m, 1 / (1 - m), self.generator, self.batch)
        return self._masked(x, rand, 1.0)


def _saturate(y: Tensor, c: Tensor) -> Tensor:
    grey = grayscale(y)
    return grey + c * (y - grey)


class Hue(_DrawnColourAug, HSVTfm):
    """Rotate each RGB image's hue with probability `p` by a shift uniform in `[-max_hue, max_hue]` (a
    fraction of the colour circle; `draw`: fixed shift)."""

    def __init__(
        self, max_hue: float = 0.1, p: float = 0.75, draw: Any = None, batch: bool = False, **kwargs: Any
    ):
        if not 0.0 <= max_hue <= 0.5:
            raise ValueError(
                f"Hue: max_hue must be in [0, 0.5] (a fraction of the colour circle), got {max_hue}"
            )
        self.max_hue, self.draw, self.batch = max_hue, draw, bool(batch)
        super().__init__(_DrawnStep(self._draw, _shift_hue, "hue"), p=p, **kwargs)

    def _draw(self, x: Tensor) -> Tensor:
        if x.shape[1] != 3:
            raise ValueError(f"Hue: needs RGB images (bs, 3, H, W), got shape {tuple(x.shape)}")
        rand = lambda: rand_uniform(x, -self.max_hue, self.max_hue, self.generator, self.batch)
        return self._masked(x, rand, 0.0)


def _shift_hue(y: Tensor, shift: Tensor) -> Tensor:
    return torch.cat([torch.remainder(y[:, :1] + shift, 1.0), y[:, 1:]], dim=1)
