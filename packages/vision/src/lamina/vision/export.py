"""Export of vision learners: the vision classes named for `learn.export()` / `load_learner()`.

Importing this module (the plugin's `lamina_learners` hook and `lamina.vision.all` do) registers, by name:
- the image types (`PILImage`, `PILImageBW`, `PILMask`, `TensorImage`, `TensorImageBW`, `TensorMask`,
  `TensorPoint`, `TensorBBox`, `LabeledBBox`), so the item and batch types of a pipeline are kept;
- the item and batch transforms with how each is described (`register_export_spec`): `ImageReader`,
  `Resize`, `RandomResizedCrop`, `RandomCrop`, `CropPad`, `PointScaler`, `IntToFloatTensor`,
  `AddMaskCodes`, `BBoxLabeler`, `DropUnreadable` and the augmentations (`Flip`, `Dihedral`, `Rotate`,
  `Zoom`, `Warp`, `RandomResizedCropGPU`, `Brightness`, `Contrast`, `Saturation`, `Hue`, `RandomErasing`),
  each by its constructor arguments;
- the parameter splitters (`resnet_split`, `xresnet_split`, `default_split`) as functions.

Merged augmentations (`setup_aug_tfms`, `aug_transforms`): an `AffineCoordTfm` is described by the
transforms its steps came from (each step keeps its split, so a validation resize such as
`RandomResizedCropGPU`'s is rebuilt exactly). A merged `LightingTfm`/`HSVTfm` runs on training batches
only: it is described without its steps, which never run at inference (its `split_idx` is kept, so the
loaded one passes validation and test batches through unchanged, as the original did). One that was set
to run at inference cannot be exported, and the error says so. Random generators are not exported.
"""

from __future__ import annotations

import inspect
from typing import Any

from lamina.core.layers.recorded import register_function
from lamina.core.learner.describe import DescribeError, register_export_spec
from lamina.core.plugins.registry import register_class
from lamina.vision.arch_meta import default_split, resnet_split, xresnet_split
from lamina.vision.augment.affine import AffineCoordTfm
from lamina.vision.augment.erasing import RandomErasing
from lamina.vision.augment.lighting import Brightness, Contrast, HSVTfm, Hue, LightingTfm, Saturation
from lamina.vision.augment.spatial import Dihedral, Flip, RandomResizedCropGPU, Rotate, Warp, Zoom
from lamina.vision.core import (
    LabeledBBox,
    TensorBBox,
    TensorImage,
    TensorImageBase,
    TensorImageBW,
    TensorMask,
    TensorPoint,
)
from lamina.vision.data import AddMaskCodes, BBoxLabeler, DropUnreadable, ImageReader
from lamina.vision.image import PILBase, PILImage, PILImageBW, PILMask
from lamina.vision.transforms import (
    CropPad,
    IntToFloatTensor,
    PointScaler,
    RandomCrop,
    RandomResizedCrop,
    Resize,
)

__all__ = ["constructor_args"]

_NOT_EXPORTED = ("generator", "before_call")  # random state and hooks: training only


def constructor_args(obj: Any) -> dict[str, Any]:
    """The named `__init__` arguments of `obj`'s class read from the same-named attributes (those it does
    not hold keep their defaults); `generator` and `before_call` are left out (training only)."""
    params = inspect.signature(type(obj).__init__).parameters.values()
    args = {}
    for p in params:
        if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in _NOT_EXPORTED:
            continue
        if p.name in vars(obj) or isinstance(inspect.getattr_static(type(obj), p.name, None), property):
            args[p.name] = getattr(obj, p.name)
        elif p.default is inspect.Parameter.empty:
            raise DescribeError(
                f"{type(obj).__name__}: cannot tell the value of its constructor argument {p.name!r}"
            )
    return args


def _affine_args(t: AffineCoordTfm) -> dict[str, Any]:
    """A plain or merged `AffineCoordTfm`: its settings, and as `aff_fs`/`coord_fs` the transforms its steps
    came from (`AffineCoordTfm(aff_fs=[flip, crop])` takes their steps, with their splits)."""
    steps, owners = t._tagged_steps(), []
    i = 0
    while i < len(steps):
        owner = getattr(steps[i].fn, "__self__", None)
        if not isinstance(owner, AffineCoordTfm) or owner is t:
            raise DescribeError(
                f"AffineCoordTfm: its step {steps[i].fn!r} is not a step of an augmentation (Flip, Rotate, "
                "RandomResizedCropGPU, ...), so it cannot be exported; build the transform from those"
            )
        own = owner._tagged_steps()
        if steps[i : i + len(own)] != own:
            raise DescribeError(
                f"AffineCoordTfm: the steps taken from {type(owner).__name__} no longer match it (its split "
                "or settings changed after merging), so it cannot be rebuilt exactly"
            )
        owners.append(owner)
        i += len(own)
    settings = ("size", "mode", "pad_mode", "mode_mask", "align_corners", "p")
    return {**{k: getattr(t, k) for k in settings}, "aff_fs": owners}


def _colour_args(t: LightingTfm | HSVTfm) -> dict[str, Any]:
    """A merged colour transform: no steps (it runs on training batches only; refused otherwise)."""
    if t.split_idx != 0:
        raise DescribeError(
            f"{type(t).__name__} with split_idx={t.split_idx}: a merged colour transform is exported only "
            "when it runs on training batches alone (split_idx=0); its steps cannot be described"
        )
    return {"p": t.p}


_TYPES = (
    PILBase,
    PILImage,
    PILImageBW,
    PILMask,
    TensorImageBase,
    TensorImage,
    TensorImageBW,
    TensorMask,
    TensorPoint,
    TensorBBox,
    LabeledBBox,
)
_BY_CONSTRUCTOR = (
    Resize,
    RandomResizedCrop,
    RandomCrop,
    CropPad,
    PointScaler,
    IntToFloatTensor,
    Flip,
    Dihedral,
    Rotate,
    Zoom,
    Warp,
    RandomResizedCropGPU,
    Brightness,
    Contrast,
    Saturation,
    Hue,
    RandomErasing,
)

for _cls in (*_TYPES, *_BY_CONSTRUCTOR, ImageReader, AddMaskCodes, BBoxLabeler, DropUnreadable):
    register_class(_cls, f"lamina.vision.{_cls.__name__}")
for _cls in (AffineCoordTfm, LightingTfm, HSVTfm):
    register_class(_cls, f"lamina.vision.{_cls.__name__}")
for _cls in _BY_CONSTRUCTOR:
    register_export_spec(_cls, args=constructor_args)
register_export_spec(ImageReader, args=("cls", "skip_bad"))  # `bad`: the training items found unreadable
register_export_spec(AddMaskCodes, args=("codes",))
register_export_spec(BBoxLabeler, args=(), state=("vocab",))  # the vocab it read from the loader at setup
register_export_spec(DropUnreadable, args=())
register_export_spec(AffineCoordTfm, args=_affine_args)
register_export_spec(LightingTfm, args=_colour_args)
register_export_spec(HSVTfm, args=_colour_args)
for _func in (resnet_split, xresnet_split, default_split):
    register_function(f"lamina.vision.{_func.__name__}")(_func)
