"""`AffineCoordTfm`: every coordinate augmentation of a batch in ONE resampling.

The matrices of all the steps (flip, rotation, zoom, perspective warp, crop...) are multiplied into one
3x3 matrix per image; the sampling grid is that matrix applied to the output pixel positions, then any
coordinate functions (non-linear warps); then ONE `F.grid_sample` resamples the images (bilinear) and one
resamples the masks (nearest, so they keep their integer codes). Points and boxes are mapped exactly by
the inverse of the same transform, so they follow the pixels.

Coordinates (see `lamina.vision.core`): points and boxes are `(x, y)` in -1..1 from the left/top EDGE
to the right/bottom edge of the image. With `align_corners=True` (-1/1 = centres of the corner pixels for
`grid_sample`) they are converted to the sampling convention and back, so they stay on the same pixels.

Points that leave the image keep their (outside -1..1) coordinates: nothing is lost, and a loss or a
display can decide what to do with them. Boxes are the box enclosing their four transformed corners,
clipped to the image; a box that leaves the image collapses to zero area on its border. Boxes of zero
area on input (the padding of a batch of variable box counts) are left as they are.

Step functions: a matrix function `f(x) -> (bs, 3, 3)` of the batch's reference tensor (its first image
or mask), marked with `@projective` when its bottom row is not `(0, 0, 1)`; a coordinate function
`f(coords, invert=False)` on `(bs, ..., 2)` sampling coordinates (`invert=True` for points: the inverse
map), with an optional `before_call(x)` to draw its parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from lamina.core.basics.functional import listify
from lamina.vision.augment.matrices import identity_mat, transform_points
from lamina.vision.augment.rand import RandTransform, first_instance
from lamina.vision.core import TensorBBox, TensorImage, TensorImageBase, TensorMask, TensorPoint

__all__ = ["AffineCoordTfm", "projective"]

PAD_MODES = ("zeros", "border", "reflection")
MODES = ("bilinear", "nearest", "bicubic")


class _OwnSplit:
    """The split of a step that follows its holder's `split_idx`: one object, kept by copies and pickles
    (a plain `object()` sentinel would be duplicated by the `deepcopy` of a pipeline)."""

    def __repr__(self) -> str:
        return "<holder's split>"

    def __copy__(self) -> _OwnSplit:
        return self

    def __deepcopy__(self, memo: dict) -> _OwnSplit:
        return self

    def __reduce__(self) -> str:
        return "_OWN"


_OWN = _OwnSplit()  # a step's split: that of the transform that holds it


def projective(f: Callable) -> Callable:
    """Mark a matrix function whose matrices may be projective (bottom row other than `(0, 0, 1)`)."""
    f.projective = True
    return f


@dataclass(frozen=True)
class _Step:
    fn: Callable
    split_idx: Any  # None: every split; an int; _OWN: the holder's split_idx
    is_matrix: bool


def _size_arg(size: Any, owner: str) -> tuple[int, int] | None:
    """`size` as `(height, width)` (an int is a square), or None."""
    if size is None:
        return None
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{owner}: size must be an int or (height, width), got {size!r}") from e
    if h <= 0 or w <= 0:
        raise ValueError(f"{owner}: size must be positive, got {size!r}")
    return h, w


def _choice(value: str, allowed: Sequence[str], arg: str, owner: str) -> str:
    if value not in allowed:
        raise ValueError(f"{owner}: {arg} must be one of {list(allowed)}, got {value!r}")
    return value


def _types(b: Any) -> str:
    parts = b if isinstance(b, (tuple, list)) else (b,)
    return ", ".join(type(o).__name__ for o in parts)


def _positions(n: int, align_corners: bool, device: torch.device) -> Tensor:
    """The sampling coordinates of the pixel centres along an axis of `n` pixels (as `F.affine_grid`)."""
    if n == 1:
        return torch.zeros(1, device=device)
    if align_corners:
        return torch.linspace(-1.0, 1.0, n, device=device)
    return (torch.arange(n, device=device, dtype=torch.float32) * 2 + 1) / n - 1


def _to_sampling(pts: Tensor, hw: tuple[int, int], align_corners: bool) -> Tensor:
    """Edge-based -1..1 coordinates -> the sampling convention of `grid_sample` for an image of size `hw`."""
    if not align_corners:
        return pts
    h, w = hw
    return _scale_xy(pts, w / (w - 1) if w > 1 else 1.0, h / (h - 1) if h > 1 else 1.0)


def _from_sampling(pts: Tensor, hw: tuple[int, int], align_corners: bool) -> Tensor:
    if not align_corners:
        return pts
    h, w = hw
    return _scale_xy(pts, (w - 1) / w if w > 1 else 1.0, (h - 1) / h if h > 1 else 1.0)


def _scale_xy(pts: Tensor, sx: float, sy: float) -> Tensor:
    """`pts` `(..., 2)` with x scaled by `sx` and y by `sy` (Python numbers: no host-to-device copy)."""
    return torch.stack([pts[..., 0] * sx, pts[..., 1] * sy], dim=-1)


class AffineCoordTfm(RandTransform):
    """Affine/projective matrices and coordinate functions composed into one resampling of the batch.

    `aff_fs`: matrix functions `f(x) -> (bs, 3, 3)` (see the module docstring), multiplied in the order
    given (the first one's change is applied to the image first), an `AffineCoordTfm` among them adding
    all its steps with their splits (how an exported merged transform is rebuilt); `coord_fs`: coordinate
    functions applied to the sampling grid after the matrices. `size`: output `(height, width)` (or an int;
    None keeps each tensor's size). `mode`: images' interpolation; `mode_mask`: masks'; `pad_mode`:
    'reflection', 'zeros' or 'border'. Other keywords go to `RandTransform` (`p`, `generator`, `split_idx`).

    `compose(other)` (used by `setup_aug_tfms`) gives one transform doing both in one resampling; each
    step keeps the split it runs on, so a validation-only resize can share the sampling of training
    augmentations. After a call, `mat` holds the `(bs, 3, 3)` matrices it used (output -> input).
    """

    order = 30

    def __init__(
        self,
        aff_fs: Callable | Sequence[Callable] | None = None,
        coord_fs: Callable | Sequence[Callable] | None = None,
        size: int | tuple[int, int] | None = None,
        mode: str = "bilinear",
        pad_mode: str = "reflection",
        mode_mask: str = "nearest",
        align_corners: bool = True,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        name = type(self).__name__
        self.size = _size_arg(size, name)
        self.mode = _choice(mode, MODES, "mode", name)
        self.mode_mask = _choice(mode_mask, MODES, "mode_mask", name)
        self.pad_mode = _choice(pad_mode, PAD_MODES, "pad_mode", name)
        self.align_corners = bool(align_corners)
        self._steps: list[_Step] = []
        for f in listify(aff_fs):
            if isinstance(f, AffineCoordTfm):  # an augmentation given whole: its steps, with their splits
                self._steps.extend(f._tagged_steps())
            else:
                self._add_step(f, _OWN, is_matrix=True)
        for f in listify(coord_fs):
            self._add_step(f, _OWN, is_matrix=False)
        self._reset_call()

    # ---- building --------------------------------------------------------------------------------
    def _add_step(self, fn: Callable, split_idx: Any, is_matrix: bool) -> None:
        if not callable(fn):
            kind = "aff_fs" if is_matrix else "coord_fs"
            raise TypeError(f"{type(self).__name__}: every item of {kind} must be callable, got {fn!r}")
        self._steps.append(_Step(fn, split_idx, is_matrix))

    @property
    def aff_fs(self) -> list[Callable]:
        """The matrix functions, in order."""
        return [s.fn for s in self._steps if s.is_matrix]

    @property
    def coord_fs(self) -> list[Callable]:
        """The coordinate functions, in order."""
        return [s.fn for s in self._steps if not s.is_matrix]

    @property
    def name(self) -> str:
        """The class name and settings; a plain or merged `AffineCoordTfm` also lists its steps."""
        if type(self) is not AffineCoordTfm:
            return super().name
        steps = ", ".join(_step_label(s.fn) for s in self._steps) or "none"
        return (
            f"{self._plain_name()} -- steps: [{steps}]; size={self.size}, mode={self.mode!r}, "
            f"mode_mask={self.mode_mask!r}, pad_mode={self.pad_mode!r}, align_corners={self.align_corners}"
        )

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    def _tagged_steps(self) -> list[_Step]:
        """The steps with `_OWN` resolved to this transform's current split."""
        return [_Step(s.fn, self.split_idx, s.is_matrix) if s.split_idx is _OWN else s for s in self._steps]

    def compose(self, other: AffineCoordTfm) -> AffineCoordTfm:
        """A new transform doing this one's steps then `other`'s, in one resampling.

        Both must agree on `mode`, `mode_mask`, `pad_mode` and `align_corners` and on `size` when both
        set one, and each must apply to every batch (`p=1`, or `p` drawn per item)."""
        if not isinstance(other, AffineCoordTfm):
            raise TypeError(f"AffineCoordTfm.compose: expected an AffineCoordTfm, got {type(other).__name__}")
        for t in (self, other):
            if not t.per_item_p and t.p < 1.0:
                raise ValueError(
                    f"cannot merge {type(t).__name__} (applies to a whole batch with p={t.p}) into one "
                    "resampling; keep it as a separate transform"
                )
        for attr in ("mode", "mode_mask", "pad_mode", "align_corners"):
            if getattr(self, attr) != getattr(other, attr):
                raise ValueError(
                    f"cannot merge {type(self).__name__} and {type(other).__name__}: {attr} differs "
                    f"({getattr(self, attr)!r} vs {getattr(other, attr)!r}); give them the same {attr}"
                )
        if self.size is not None and other.size is not None and self.size != other.size:
            raise ValueError(
                f"cannot merge {type(self).__name__} (size {self.size}) and {type(other).__name__} "
                f"(size {other.size}): the output sizes differ"
            )
        res = AffineCoordTfm(
            size=self.size or other.size,
            mode=self.mode,
            pad_mode=self.pad_mode,
            mode_mask=self.mode_mask,
            align_corners=self.align_corners,
        )
        res._steps = self._tagged_steps() + other._tagged_steps()
        splits = {s.split_idx for s in res._steps}
        res.split_idx = splits.pop() if len(splits) == 1 else None
        return res

    # ---- one call ----------------------------------------------------------------------------------
    def _reset_call(self) -> None:
        self.mat: Tensor | None = None  # this call's (bs, 3, 3) matrices: output -> input positions
        self._inv: Tensor | None = None
        self._projective = False
        self._coords: list[Callable] = []
        self._in_hw: tuple[int, int] | None = None
        self._bs = 0
        self._grids: dict[tuple, Tensor] = {}

    def _active_steps(self, split_idx: int | None) -> list[_Step]:
        return [s for s in self._tagged_steps() if s.split_idx is None or s.split_idx == split_idx]

    def before_call(self, b: Any, split_idx: int | None) -> None:
        super().before_call(b, split_idx)
        self._reset_call()
        if not self.do:
            return
        ref = first_instance(b, TensorImageBase)
        if ref is None:
            raise TypeError(
                f"{type(self).__name__}: found no image or mask (TensorImage, TensorMask) in the batch "
                f"({_types(b)}); batch augmentation reads the image size and batch size from one"
            )
        if ref.dim() < 3:
            raise ValueError(
                f"{type(self).__name__}: expected a batch of images (bs, C, H, W) or masks (bs, H, W), got a "
                f"{type(ref).__name__} of shape {tuple(ref.shape)}; use it as a batch transform"
            )
        steps = self._active_steps(split_idx)
        self.do = bool(steps) or self.size is not None
        if not self.do:
            return
        plain = ref.as_subclass(Tensor)
        self._bs, self._in_hw = plain.shape[0], (plain.shape[-2], plain.shape[-1])
        mat = None
        for s in steps:
            if s.is_matrix:
                m = s.fn(plain)
                if not isinstance(m, Tensor) or m.shape != (self._bs, 3, 3):
                    got = tuple(m.shape) if isinstance(m, Tensor) else type(m).__name__
                    raise ValueError(
                        f"{type(self).__name__}: matrix function {_fname(s.fn)} must return a "
                        f"({self._bs}, 3, 3) tensor, got {got}"
                    )
                m = m.as_subclass(Tensor).to(device=plain.device, dtype=torch.float32)
                mat = m if mat is None else mat @ m
                self._projective = self._projective or getattr(s.fn, "projective", False)
            else:
                if hasattr(s.fn, "before_call"):
                    s.fn.before_call(plain)
                self._coords.append(s.fn)
        self.mat = identity_mat(plain) if mat is None else mat

    def __call__(self, b: Any, split_idx: int | None = None, **kwargs: Any) -> Any:
        try:
            return super().__call__(b, split_idx=split_idx, **kwargs)
        finally:
            self._grids.clear()  # grids are per call: free their memory (the matrices stay readable)

    def _grid(self, out_hw: tuple[int, int], dtype: torch.dtype) -> Tensor:
        """The sampling grid `(bs, h, w, 2)` for an output of size `out_hw` (made once per call and size).

        Built by broadcasting (x and y of the output pixels against each image's matrix entries): the same
        grid as `F.affine_grid`, several times faster on the CPU, and it handles projective matrices."""
        key = (out_hw, dtype)
        found = self._grids.get(key)
        if found is not None:
            return found
        h, w = out_hw
        m = self.mat.reshape(self._bs, 9, 1, 1)
        xs = _positions(w, self.align_corners, m.device).reshape(1, 1, w)
        ys = _positions(h, self.align_corners, m.device).reshape(1, h, 1)
        gx = torch.addcmul(m[:, 0] * xs + m[:, 2], m[:, 1], ys)
        gy = torch.addcmul(m[:, 3] * xs + m[:, 5], m[:, 4], ys)
        if self._projective:
            inv_w = torch.addcmul(m[:, 6] * xs + m[:, 8], m[:, 7], ys).reciprocal_()
            gx, gy = gx.mul_(inv_w), gy.mul_(inv_w)
        grid = torch.stack([gx, gy], dim=-1)
        for f in self._coords:
            grid = f(grid)
        grid = grid.to(dtype)
        self._grids[key] = grid
        return grid

    def _inverse(self) -> Tensor:
        if self._inv is None:
            self._inv = torch.linalg.inv_ex(self.mat)[0]
        return self._inv

    def _out_hw(self, hw: tuple[int, int]) -> tuple[int, int]:
        return self.size if self.size is not None else hw

    # ---- the parts of a batch --------------------------------------------------------------------------
    def _resample(self, x: Tensor, mode: str, what: str) -> Tensor:
        plain = x.as_subclass(Tensor)
        one_channel = what == "mask" and plain.dim() == 3
        if one_channel:
            plain = plain.unsqueeze(1)
        if plain.dim() != 4:
            shape = "(bs, H, W) or (bs, 1, H, W)" if what == "mask" else "(bs, C, H, W)"
            raise ValueError(
                f"{type(self).__name__}: a batch of {what}s must have shape {shape}, got {tuple(x.shape)}"
            )
        self._check_bs(plain, what)
        floating = plain.is_floating_point()
        work = plain if floating else plain.float()
        grid = self._grid(self._out_hw((plain.shape[-2], plain.shape[-1])), work.dtype)
        out = F.grid_sample(
            work, grid, mode=mode, padding_mode=self.pad_mode, align_corners=self.align_corners
        )
        if not floating:
            if plain.dtype == torch.bool:
                out = out > 0.5
            else:
                info = torch.iinfo(plain.dtype)
                out = out.round_().clamp_(info.min, info.max).to(plain.dtype)
        return out.squeeze(1) if one_channel else out

    def _check_bs(self, plain: Tensor, what: str) -> None:
        if plain.shape[0] != self._bs:
            raise ValueError(
                f"{type(self).__name__}: a batch of {what}s has {plain.shape[0]} items but the batch's first "
                f"image/mask has {self._bs}"
            )

    def _move(self, pts: Tensor) -> Tensor:
        """Points `(bs, n, 2)` (edge-based -1..1 coordinates of the input) -> where their pixels go."""
        in_hw = self._in_hw
        s = _to_sampling(pts, in_hw, self.align_corners)
        for f in reversed(self._coords):
            s = f(s, invert=True)
        s = transform_points(self._inverse(), s)
        return _from_sampling(s, self._out_hw(in_hw), self.align_corners)

    def _point_meta(self, x: Tensor) -> dict:
        h, w = self._out_hw(self._in_hw)
        return {**x.__dict__, "img_size": (w, h)}

    def _points(self, x: TensorPoint) -> TensorPoint:
        plain = x.as_subclass(Tensor)
        if plain.dim() != 3 or plain.shape[-1] != 2:
            raise ValueError(
                f"{type(self).__name__}: a batch of points must be (bs, n, 2), got {tuple(x.shape)}"
            )
        self._check_bs(plain, "point")
        moved = self._move(plain.float()).to(plain.dtype)
        return type(x)(moved, **self._point_meta(x))

    def _boxes(self, x: TensorBBox) -> TensorBBox:
        plain = x.as_subclass(Tensor)
        if plain.dim() != 3 or plain.shape[-1] != 4:
            raise ValueError(
                f"{type(self).__name__}: a batch of boxes must be (bs, n, 4), got {tuple(x.shape)}"
            )
        self._check_bs(plain, "box")
        bs, n = plain.shape[:2]
        b = plain.float()
        x0, y0, x1, y1 = b.unbind(-1)
        corners = torch.stack([x0, y0, x1, y0, x0, y1, x1, y1], dim=-1).reshape(bs, n * 4, 2)
        moved = self._move(corners).reshape(bs, n, 4, 2)
        boxes = torch.cat([moved.amin(dim=2), moved.amax(dim=2)], dim=-1).clamp(-1.0, 1.0)
        empty = ((x1 <= x0) | (y1 <= y0)).unsqueeze(-1)
        boxes = torch.where(empty, b, boxes)
        return type(x)(boxes.to(plain.dtype), **self._point_meta(x))

    def encodes(self, x: TensorImage):
        return self._resample(x, self.mode, "image")

    def encodes(self, x: TensorMask):  # noqa: F811 - one case per type
        return self._resample(x, self.mode_mask, "mask")

    def encodes(self, x: TensorPoint):  # noqa: F811
        return self._points(x)

    def encodes(self, x: TensorBBox):  # noqa: F811
        return self._boxes(x)


def _fname(f: Callable) -> str:
    return getattr(f, "__qualname__", None) or type(f).__name__


def _step_label(f: Callable) -> str:
    """A step's label: the transform it belongs to (with its settings) or the function's name."""
    owner = getattr(f, "__self__", None)
    return owner.name if isinstance(owner, RandTransform) else _fname(f)
