"""aug_transforms as the batch_tfms of real vision data: segmentation masks and detection boxes follow."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from lamina.core.data.block import DataBlock
from lamina.core.data.splitters import RandomSplitter
from lamina.core.tensors import TensorMultiCategory
from lamina.vision.augment import Flip, aug_transforms
from lamina.vision.core import TensorBBox, TensorImage, TensorMask
from lamina.vision.data import BBoxBlock, BBoxLblBlock, ImageBlock, get_annotations, get_image_files
from lamina.vision.factories import SegmentationDataLoaders
from lamina.vision.transforms import Resize

REPO_ROOT = Path(__file__).resolve().parents[3]
STRONG = dict(max_rotate=40.0, max_zoom=1.4, max_warp=0.3, p_affine=1.0)


@pytest.fixture
def shared_data() -> Path:
    path = Path(os.environ.get("LAMINA_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not path.exists():
        pytest.skip(f"sample data not found at {path}; set LAMINA_SHARED_DATA")
    return path


def test_segmentation_masks_stay_on_the_nuclei(shared_data):
    torch.manual_seed(0)
    path = shared_data / "segmentation_sample"
    codes = np.loadtxt(path / "codes.txt", dtype=str)
    dls = SegmentationDataLoaders.from_label_func(
        path,
        get_image_files(path / "images"),
        lambda o: path / "labels" / f"{o.stem}_P{o.suffix}",
        codes=codes,
        seed=0,
        bs=4,
        batch_tfms=aug_transforms(**STRONG),
    )
    x, y = dls.train.one_batch()
    assert type(x) is TensorImage and type(y) is TensorMask and y.dtype == torch.long
    assert set(y.unique().tolist()) <= {0, 1}
    grey = x.as_subclass(torch.Tensor).mean(1)
    mask = y.as_subclass(torch.Tensor)
    aligned = grey[mask == 1].mean() / grey[mask == 0].mean()
    shifted = torch.roll(mask, shifts=(20, 20), dims=(1, 2))  # the same masks, off their nuclei
    misaligned = grey[shifted == 1].mean() / grey[shifted == 0].mean()
    print(f"\nmean brightness inside / outside the masks: {aligned:.2f} aligned, {misaligned:.2f} shifted")
    assert aligned > 2.0 and aligned > 1.5 * misaligned
    vx, vy = dls.valid.one_batch()  # validation: not augmented
    assert vx.shape == (3, 3, 128, 128) and set(vy.unique().tolist()) == {0, 1}


@pytest.fixture
def detection_block(shared_data):
    det = shared_data / "detection_sample"
    names, targets = get_annotations(det / "train.json")
    img2bbox = dict(zip(names, targets))

    def block(batch_tfms=None):
        return DataBlock(
            blocks=(ImageBlock, BBoxBlock, BBoxLblBlock),
            get_items=get_image_files,
            splitter=RandomSplitter(seed=0),
            get_y=[lambda o: img2bbox[o.name][0], lambda o: img2bbox[o.name][1]],
            n_inp=1,
            item_tfms=Resize(96, method="squish"),
            batch_tfms=batch_tfms,
        ).dataloaders(det / "train", bs=4)

    return block


def test_detection_boxes_flip_with_their_images(detection_block):
    dls = detection_block()
    x, boxes, labels = dls.valid.one_batch()
    assert isinstance(x, TensorImage) and isinstance(boxes, TensorBBox)
    fx, fboxes, flabels = Flip(p=1.0)((x, boxes, labels), split_idx=0)
    assert flabels is labels
    b, fb = boxes.as_subclass(torch.Tensor), fboxes.as_subclass(torch.Tensor)
    real = (b[..., 2] > b[..., 0]).unsqueeze(-1)
    mirrored = torch.stack([-b[..., 2], b[..., 1], -b[..., 0], b[..., 3]], dim=-1)
    torch.testing.assert_close(fb, torch.where(real, mirrored, b), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        fx.as_subclass(torch.Tensor), x.as_subclass(torch.Tensor).flip(-1), atol=1e-5, rtol=0
    )


def test_detection_batches_through_aug_transforms(detection_block):
    torch.manual_seed(0)
    dls = detection_block(batch_tfms=aug_transforms(**STRONG))
    x, boxes, labels = dls.train.one_batch()
    assert type(x) is TensorImage and type(boxes) is TensorBBox and type(labels) is TensorMultiCategory
    b, lab = boxes.as_subclass(torch.Tensor), labels.as_subclass(torch.Tensor)
    assert b.min() >= -1 and b.max() <= 1
    assert torch.all(b[lab == 0] == 0)  # padding stays zero boxes
    assert ((b[lab == 1][:, 2] >= b[lab == 1][:, 0]) & (b[lab == 1][:, 3] >= b[lab == 1][:, 1])).all()
