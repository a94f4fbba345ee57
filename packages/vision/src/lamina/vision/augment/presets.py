"""`aug_transforms`: the curated default augmentations; `setup_aug_tfms`: merge them into few passes."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

from lamina.core.basics.functional import listify
from lamina.vision.augment.affine import AffineCoordTfm
from lamina.vision.augment.lighting import Brightness, Contrast, HSVTfm, LightingTfm
from lamina.vision.augment.spatial import Dihedral, Flip, RandomResizedCropGPU, Rotate, Warp, Zoom

__all__ = ["aug_transforms", "setup_aug_tfms"]

_MERGED_KINDS = (AffineCoordTfm, LightingTfm, HSVTfm)


def _kind(t: Any) -> type | None:
    return next((k for k in _MERGED_KINDS if isinstance(t, k)), None)


def setup_aug_tfms(tfms: Iterable[Any]) -> list[Any]:
    """`tfms` in the order a `Pipeline` runs them (stable sort by `order`), with each run of consecutive
    coordinate transforms (`AffineCoordTfm`s) merged into ONE resampling, and each run of consecutive
    lighting (`LightingTfm`) or HSV (`HSVTfm`) transforms into one pass. Other items are kept as they are.

    The given transforms are not modified (merging builds new ones). When two coordinate transforms cannot
    share a resampling (different `mode`/`pad_mode`/`align_corners`/`size`, or `p` for a whole batch) they
    stay separate and a warning says why."""
    items = listify(tfms)
    try:
        ordered = sorted(items, key=lambda t: getattr(t, "order", 0))
    except TypeError as e:
        raise TypeError(f"setup_aug_tfms: transform orders must be comparable numbers: {e}") from e
    res: list[Any] = []
    for t in ordered:
        prev = res[-1] if res else None
        kind = _kind(t)
        if prev is None or kind is None or _kind(prev) is not kind:
            res.append(t)
            continue
        try:
            res[-1] = prev.compose(t)
        except ValueError as e:
            if kind is AffineCoordTfm:
                warnings.warn(
                    f"setup_aug_tfms: not merged, so the batch is resampled twice: {e}", stacklevel=2
                )
            res.append(t)
    return res


def aug_transforms(
    mult: float = 1.0,
    do_flip: bool = True,
    flip_vert: bool = False,
    max_rotate: float = 10.0,
    min_zoom: float = 1.0,
    max_zoom: float = 1.1,
    max_lighting: float = 0.2,
    max_warp: float = 0.2,
    p_affine: float = 0.75,
    p_lighting: float = 0.75,
    xtra_tfms: Any = None,
    size: int | tuple[int, int] | None = None,
    mode: str = "bilinear",
    pad_mode: str = "reflection",
    align_corners: bool = True,
    batch: bool = False,
    min_scale: float = 1.0,
) -> list[Any]:
    """The default batch augmentations, merged by `setup_aug_tfms`: by default one `AffineCoordTfm` (flip,
    perspective warp, rotation, zoom: one resampling) and one `LightingTfm` (brightness, contrast).

    `mult` scales `max_rotate`, `max_lighting` and `max_warp`. `flip_vert=True` uses all 8 dihedral
    symmetries instead of left-right flips. Each augmentation applies per image with probability `p_affine`
    (flips: 0.5) or `p_lighting`. `size` resizes training batches in the same resampling. `min_scale < 1`
    adds a `RandomResizedCropGPU(size, min_scale, ratio=(1, 1))`, which also resizes validation batches
    (centre crop) and shares the training resampling of the others. `xtra_tfms` are added (and merged when
    they can be). `batch=True` draws one set of parameters for the whole batch."""
    if mult < 0:
        raise ValueError(f"aug_transforms: mult must be >= 0, got {mult}")
    if min_scale != 1.0 and size is None:
        raise ValueError("aug_transforms: min_scale < 1 adds a RandomResizedCropGPU, which needs size=")
    sampling = dict(mode=mode, pad_mode=pad_mode, align_corners=align_corners, batch=batch)
    sampling["size"] = size if min_scale == 1.0 else None
    max_rotate, max_lighting, max_warp = max_rotate * mult, max_lighting * mult, max_warp * mult
    res: list[Any] = []
    if do_flip:
        res.append(Dihedral(p=0.5, **sampling) if flip_vert else Flip(p=0.5, **sampling))
    if max_warp:
        res.append(Warp(magnitude=max_warp, p=p_affine, **sampling))
    if max_rotate:
        res.append(Rotate(max_deg=max_rotate, p=p_affine, **sampling))
    if min_zoom < 1 or max_zoom > 1:
        res.append(Zoom(min_zoom=min_zoom, max_zoom=max_zoom, p=p_affine, **sampling))
    if max_lighting:
        res.append(Brightness(max_lighting=max_lighting, p=p_lighting, batch=batch))
        res.append(Contrast(max_lighting=max_lighting, p=p_lighting, batch=batch))
    xtra = listify(xtra_tfms)
    if min_scale != 1.0:
        crop = RandomResizedCropGPU(
            size, min_scale=min_scale, ratio=(1, 1), mode=mode, pad_mode=pad_mode, align_corners=align_corners
        )
        xtra = [crop, *xtra]
    return setup_aug_tfms(res + xtra)
