"""aug_transforms and setup_aug_tfms: the curated list, merging into few passes, use as batch_tfms."""

import pickle
import warnings

import pytest
import torch

from lamina.core.data.datasets import Datasets
from lamina.core.transform import Transform
from lamina.vision.augment import (
    AffineCoordTfm,
    Brightness,
    Contrast,
    Dihedral,
    Flip,
    Hue,
    LightingTfm,
    RandomErasing,
    RandomResizedCropGPU,
    Rotate,
    Saturation,
    Warp,
    Zoom,
    aug_transforms,
    setup_aug_tfms,
)
from lamina.vision.core import TensorImage, TensorMask


def step_owners(tfm):
    return [type(f.__self__) for f in tfm.aff_fs]


def test_defaults_are_one_resampling_and_one_lighting_pass():
    tfms = aug_transforms()
    assert [type(t) for t in tfms] == [AffineCoordTfm, LightingTfm]
    affine, lighting = tfms
    assert step_owners(affine) == [Flip, Warp, Rotate, Zoom]
    flip, warp, rotate, zoom = (f.__self__ for f in affine.aff_fs)
    assert (flip.p, warp.p, warp.magnitude, rotate.max_deg, rotate.p) == (0.5, 0.75, 0.2, 10.0, 0.75)
    assert (zoom.min_zoom, zoom.max_zoom) == (1.0, 1.1)
    assert affine.split_idx == 0 and affine.pad_mode == "reflection" and affine.mode == "bilinear"
    assert [repr(f) for f in lighting.fs] == ["brightness", "contrast"]
    assert lighting.split_idx == 0


def test_options_change_the_list():
    affine, lighting = aug_transforms(flip_vert=True, mult=2.0, max_zoom=1.0, p_affine=0.3, p_lighting=0.1)
    assert step_owners(affine) == [Dihedral, Warp, Rotate]
    rotate = affine.aff_fs[2].__self__
    assert (rotate.max_deg, rotate.p, affine.aff_fs[1].__self__.magnitude) == (20.0, 0.3, 0.4)
    assert all(step.draw.__self__.p == 0.1 for step in lighting.fs)
    assert [
        type(t) for t in aug_transforms(max_lighting=0.0, max_warp=0.0, max_rotate=0.0, max_zoom=1.0)
    ] == [Flip]
    assert aug_transforms(do_flip=False, max_warp=0, max_rotate=0, max_zoom=1, max_lighting=0) == []
    (affine,) = aug_transforms(size=(24, 32), max_lighting=0, batch=True, pad_mode="zeros")
    assert affine.size == (24, 32) and affine.pad_mode == "zeros"
    assert all(f.__self__.batch for f in affine.aff_fs)


def test_xtra_tfms_are_merged_where_they_can_be():
    tfms = aug_transforms(xtra_tfms=[Saturation(), Hue(), RandomErasing(), Zoom(min_zoom=0.9, max_zoom=1.0)])
    assert [type(t) for t in tfms] == [AffineCoordTfm, LightingTfm, Hue, RandomErasing]
    assert step_owners(tfms[0]) == [Flip, Warp, Rotate, Zoom, Zoom]
    assert [repr(f) for f in tfms[1].fs] == ["brightness", "contrast", "saturation"]


def test_min_scale_adds_a_crop_that_also_resizes_validation():
    with pytest.raises(ValueError, match="size"):
        aug_transforms(min_scale=0.5)
    affine, _ = aug_transforms(size=16, min_scale=0.5)
    assert affine.split_idx is None and affine.size == (16, 16)
    assert step_owners(affine)[-2:] == [RandomResizedCropGPU, RandomResizedCropGPU]
    x = TensorImage(torch.rand(2, 3, 40, 40))
    assert affine(x, split_idx=0).shape == affine(x, split_idx=1).shape == (2, 3, 16, 16)


def test_setup_aug_tfms_sorts_like_a_pipeline_and_merges_consecutive_runs():
    def other(x):
        return x

    other_tfm = Transform(other, order=35)  # between the coordinate (30) and lighting (40) transforms
    rotate, zoom, erase, bright, contrast = Rotate(), Zoom(), RandomErasing(), Brightness(), Contrast()
    res = setup_aug_tfms([erase, bright, rotate, other_tfm, contrast, zoom])
    assert [type(t) for t in res] == [AffineCoordTfm, Transform, LightingTfm, RandomErasing]
    assert res[0].aff_fs == [rotate._mat, zoom._mat] and res[1] is other_tfm and res[3] is erase
    assert rotate.aff_fs == [rotate._mat]  # the inputs are not modified


def test_transforms_that_cannot_share_a_resampling_stay_apart_with_a_warning():
    with pytest.warns(UserWarning, match="resampled twice.*pad_mode"):
        res = setup_aug_tfms([Rotate(pad_mode="zeros"), Zoom()])
    assert [type(t) for t in res] == [Rotate, Zoom]
    whole_batch = AffineCoordTfm(aff_fs=lambda x: torch.eye(3).expand(x.shape[0], 3, 3), p=0.5)
    with pytest.warns(UserWarning, match="p=0.5"):
        assert len(setup_aug_tfms([whole_batch, Zoom()])) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(setup_aug_tfms([Brightness(), Hue()])) == 2  # different colour spaces: silently apart


def test_the_list_pickles_and_still_runs():
    tfms = pickle.loads(pickle.dumps(aug_transforms(xtra_tfms=[Hue(), RandomErasing()])))
    x = TensorImage(torch.rand(2, 3, 8, 8))
    for t in tfms:
        x = t(x, split_idx=0)
    assert x.shape == (2, 3, 8, 8) and isinstance(x, TensorImage)
    assert step_owners(tfms[0]) == [Flip, Warp, Rotate, Zoom]


def _dls(after_batch):
    torch.manual_seed(0)
    images = torch.rand(8, 3, 16, 16)
    masks = (images[:, 0] > 0.5).long()
    dsets = Datasets(
        range(8),
        [[lambda i: TensorImage(images[i])], [lambda i: TensorMask(masks[i])]],
        splits=([0, 1, 2, 3], [4, 5, 6, 7]),
    )
    return dsets.dataloaders(bs=4, shuffle_train=False, after_batch=after_batch), images, masks


def test_as_batch_tfms_of_data_loaders_training_changes_validation_does_not():
    dls, images, masks = _dls(aug_transforms(p_affine=1.0, p_lighting=1.0, max_rotate=30.0))
    x, y = dls.train.one_batch()
    assert isinstance(x, TensorImage) and isinstance(y, TensorMask) and y.dtype == torch.int64
    assert not torch.allclose(x.as_subclass(torch.Tensor), images[:4])
    vx, vy = dls.valid.one_batch()
    assert torch.equal(vx.as_subclass(torch.Tensor), images[4:])
    assert torch.equal(vy.as_subclass(torch.Tensor), masks[4:])
