"""Batch augmentation on the device: coordinate transforms in one resampling, lighting in one pass.

Modules: `rand` (`RandTransform`, per-item random draws), `matrices` (the per-image 3x3 matrices),
`affine` (`AffineCoordTfm`: every coordinate augmentation of a batch in one resampling), `spatial` (the
flips, rotations, zooms, warps and crops built on it), `hsv` (RGB <-> HSV), `lighting` (brightness,
contrast, saturation on logits; hue in HSV), `erasing` (`RandomErasing`), `presets` (`aug_transforms`,
`setup_aug_tfms`). Use them as `batch_tfms`: they run on training batches
only, vectorised over the batch on its device.
"""

from lamina.vision.augment.affine import AffineCoordTfm, projective
from lamina.vision.augment.erasing import RandomErasing
from lamina.vision.augment.hsv import hsv2rgb, rgb2hsv
from lamina.vision.augment.lighting import (
    Brightness,
    Contrast,
    HSVTfm,
    Hue,
    LightingTfm,
    Saturation,
    grayscale,
    logit,
)
from lamina.vision.augment.matrices import (
    affine_mat,
    dihedral_mat,
    flip_mat,
    homography,
    identity_mat,
    rotate_mat,
    transform_points,
    warp_mat,
    zoom_mat,
)
from lamina.vision.augment.presets import aug_transforms, setup_aug_tfms
from lamina.vision.augment.rand import RandTransform
from lamina.vision.augment.spatial import Dihedral, Flip, RandomResizedCropGPU, Rotate, Warp, Zoom

__all__ = [
    "RandTransform",
    "AffineCoordTfm",
    "projective",
    "Flip",
    "Dihedral",
    "Rotate",
    "Zoom",
    "Warp",
    "RandomResizedCropGPU",
    "affine_mat",
    "identity_mat",
    "flip_mat",
    "dihedral_mat",
    "rotate_mat",
    "zoom_mat",
    "warp_mat",
    "homography",
    "transform_points",
    "logit",
    "grayscale",
    "LightingTfm",
    "Brightness",
    "Contrast",
    "Saturation",
    "HSVTfm",
    "Hue",
    "rgb2hsv",
    "hsv2rgb",
    "RandomErasing",
    "aug_transforms",
    "setup_aug_tfms",
]
