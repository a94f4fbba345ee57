"""Acceptance: the paper's vision code runs on local data, and training reaches real accuracy.

- the paper's pets code (`ImageDataLoaders.from_name_re` + `cnn_learner(dls, resnet34, metrics=error_rate)` +
  `fit_one_cycle(1)`) and the same with `from_folder`, on the shipped MNIST sample (28x28: a few batches);
- the paper's MNIST `DataBlock` (PILImageBW, GrandparentSplitter) with `aug_transforms(mult=2)` trains;
- an XResNet-18-style model trained from scratch on the shared `mnist_sample` (10 digits, 3000 train /
  1000 valid) reaches >= 97% validation accuracy (about 98% in 8 epochs; budget: under 3 minutes);
- segmentation: `SegmentationDataLoaders.from_label_func` + `unet_learner` on the nuclei tiles reaches
  Dice >= 0.75 (0.85 to 0.90 over three seeds);
- detection: the COCO-style `detection_sample` (train.json and valid.json) loads through `get_annotations` +
  `BBoxBlock`/`BBoxLblBlock` with `n_inp=1`, and `show_batch` draws each box where the annotation puts it.

The training tests run torch on one thread: on a 2-core machine shared with other processes, torch's
two-thread kernels wait on each other and run several times slower.
"""

import functools
import os
import random
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.patches import Rectangle

from lamina.core.data.block import DataBlock
from lamina.core.data.blocks import CategoryBlock
from lamina.core.data.getters import parent_label
from lamina.core.data.splitters import FuncSplitter, GrandparentSplitter
from lamina.core.data.transforms import Normalize
from lamina.core.learner.learner import Learner
from lamina.core.metrics import Dice, accuracy, error_rate
from lamina.core.tensors import TensorMultiCategory
from lamina.vision.arch_meta import imagenet_stats
from lamina.vision.augment import aug_transforms
from lamina.vision.core import TensorBBox, TensorImage
from lamina.vision.data import BBoxBlock, BBoxLblBlock, ImageBlock, get_annotations, get_image_files
from lamina.vision.factories import ImageDataLoaders, SegmentationDataLoaders
from lamina.vision.image import PILImageBW
from lamina.vision.learner import cnn_learner, unet_learner, vision_learner
from lamina.vision.models.resnet import resnet34
from lamina.vision.models.xresnet import xresnet18
from lamina.vision.samples import mnist_tiny_path
from lamina.vision.transforms import RandomResizedCrop, Resize

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def shared_data() -> Path:
    path = Path(os.environ.get("LAMINA_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not path.exists():
        pytest.fail(f"sample data not found at {path}; set LAMINA_SHARED_DATA")
    return path


@pytest.fixture
def one_thread():
    """One torch thread (see the module docstring), restored afterwards; the random generators seeded."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    random.seed(0)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def pets_style_folder(tmp_path):
    """The MNIST sample as a flat folder of files named like the pets images: `three_1500.png`."""
    names = {"3": "three", "7": "seven"}
    for f in get_image_files(mnist_tiny_path(), folders=["train", "valid"]):
        shutil.copy(f, tmp_path / f"{names[f.parent.name]}_{f.stem}.png")
    return tmp_path


def _validation_improved(learn, before):
    """After the epoch: a validation loss below the untrained model's, and fewer errors than chance."""
    (_, valid_loss, error), *_ = learn.recorder.values
    assert valid_loss < before[0] and error < 0.5, (before, learn.recorder.values)


def test_paper_pets_code_with_a_local_path(pets_style_folder, one_thread):
    path = pets_style_folder
    dls = ImageDataLoaders.from_name_re(
        path,
        fnames=get_image_files(path),
        pat=r"^([^/]+)_\d+.png$",
        item_tfms=RandomResizedCrop(32, min_scale=0.75),
        bs=64,
        seed=0,
        batch_tfms=[*aug_transforms(size=28, max_warp=0.0), Normalize.from_stats(*imagenet_stats)],
    )
    assert list(dls.vocab) == ["seven", "three"] and len(dls.train_ds) + len(dls.valid_ds) == 700
    learn = cnn_learner(dls, resnet34, metrics=error_rate, pretrained=False)
    with learn.quiet():
        before = learn.validate()
    learn.fit_one_cycle(1)
    _validation_improved(learn, before)
    label, idx, probs = learn.predict(path / "three_1500.png")
    assert label in ("seven", "three") and dls.vocab[int(idx)] == label
    assert probs.shape == (2,) and abs(float(probs.sum()) - 1) < 1e-5


def test_paper_code_with_from_folder(one_thread):
    dls = ImageDataLoaders.from_folder(mnist_tiny_path(), bs=16, seed=0)
    learn = cnn_learner(dls, resnet34, metrics=error_rate, pretrained=False)
    learn.fit_one_cycle(1)
    # it learns: the (smoothed) training loss ends well below chance level, ln 2 = 0.69. (The validation
    # numbers of a ResNet-34 after 30 steps from scratch are not a fair test: its batch-norm running
    # statistics still lag the weights.)
    losses = learn.recorder.losses
    assert losses[-1] < 0.6 and losses[-1] < losses[0], losses
    assert learn.model[0][0].in_channels == 3 and learn.recorder.values[0][2] is not None


def test_paper_mnist_datablock_trains(one_thread):
    # the paper's lines: the DataBlock, then `databunch(path, batch_tfms=...)`
    mnist = DataBlock(
        blocks=(ImageBlock(cls=PILImageBW), CategoryBlock),
        get_items=get_image_files,
        splitter=GrandparentSplitter(),
        get_y=parent_label,
    )
    dls = mnist.databunch(mnist_tiny_path(), batch_tfms=aug_transforms(mult=2, do_flip=False), bs=32, seed=0)
    assert any(type(t).__name__ == "AffineCoordTfm" for t in dls.train.after_batch.fs)
    arch = functools.partial(xresnet18, widen=0.5, stem_szs=(16, 32))
    learn = vision_learner(dls, arch, pretrained=False, metrics=accuracy)
    assert learn.model[0][0][0].in_channels == 1  # grey images: a one-channel stem
    learn.fit_one_cycle(4, 1e-2)
    assert learn.recorder.values[-1][2] >= 0.9


def test_xresnet_from_scratch_reaches_97_percent_on_mnist_sample(shared_data, one_thread):
    start = time.perf_counter()
    dblock = DataBlock(
        blocks=(ImageBlock(PILImageBW), CategoryBlock),
        get_items=get_image_files,
        splitter=GrandparentSplitter(),
        get_y=parent_label,
        batch_tfms=aug_transforms(
            do_flip=False, max_rotate=10.0, max_zoom=1.1, max_warp=0.0, max_lighting=0.0
        ),
    )
    dls = dblock.dataloaders(shared_data / "mnist_sample", bs=64, seed=0)
    assert (len(dls.train_ds), len(dls.valid_ds), len(dls.vocab)) == (3000, 1000, 10)
    model = xresnet18(c_in=1, n_out=10, widen=0.5, stem_szs=(16, 32))
    learn = Learner(dls, model, metrics=accuracy)
    learn.fit_one_cycle(8, 1e-2)
    valid_accuracy = learn.recorder.values[-1][2]
    assert valid_accuracy >= 0.97, learn.recorder.values
    assert time.perf_counter() - start < 180


def test_unet_on_the_nuclei_tiles_reaches_a_dice_of_0_75(shared_data, one_thread):
    path = shared_data / "segmentation_sample"
    codes = np.loadtxt(path / "codes.txt", dtype=str)
    dls = SegmentationDataLoaders.from_label_func(
        path,
        get_image_files(path / "images"),
        lambda o: path / "labels" / f"{o.stem}_P{o.suffix}",
        codes=codes,
        seed=0,
        bs=4,
    )
    arch = functools.partial(xresnet18, widen=0.5, stem_szs=(16, 32))  # a light encoder: CPU time
    learn = unet_learner(dls, arch, pretrained=False, metrics=Dice())
    learn.fit_one_cycle(12, 3e-3)
    dice = learn.recorder.values[-1][2]
    assert dice >= 0.75, learn.recorder.values


def test_detection_sample_loads_with_boxes_where_the_annotations_put_them(shared_data):
    det = shared_data / "detection_sample"
    img2bbox = {}
    for split in ("train", "valid"):
        names, targets = get_annotations(det / f"{split}.json", prefix=f"{split}/")
        img2bbox.update(zip(names, targets))
    assert len(img2bbox) == 53
    dblock = DataBlock(
        blocks=(ImageBlock, BBoxBlock, BBoxLblBlock),
        get_items=get_image_files,
        splitter=FuncSplitter(lambda o: o.parent.name == "valid"),
        get_y=[
            lambda o: img2bbox[f"{o.parent.name}/{o.name}"][0],
            lambda o: img2bbox[f"{o.parent.name}/{o.name}"][1],
        ],
        item_tfms=Resize(200, method="squish"),
        n_inp=1,
    )
    dls = dblock.dataloaders(det, bs=4)
    assert dls.n_inp == 1 and (len(dls.train_ds), len(dls.valid_ds)) == (40, 13)
    x, boxes, labels = dls.valid.one_batch()
    assert type(x) is TensorImage and type(boxes) is TensorBBox and type(labels) is TensorMultiCategory
    fig = dls.valid.show_batch(max_n=4)
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.images]
    assert len(axes) == 4
    for f, ax in zip(dls.valid_ds.items[:4], axes):
        expected = np.array(img2bbox[f"valid/{f.name}"][0], dtype=float) * 200 / 400  # 400x400 tiles squished
        drawn = np.array(
            [
                [
                    r.get_x() + 0.5,
                    r.get_y() + 0.5,
                    r.get_x() + 0.5 + r.get_width(),
                    r.get_y() + 0.5 + r.get_height(),
                ]
                for r in ax.patches
                if isinstance(r, Rectangle)
            ]
        )
        assert drawn.shape == expected.shape
        assert np.allclose(np.sort(drawn, axis=0), np.sort(expected, axis=0), atol=0.05)
        assert {t.get_text() for t in ax.texts} == {"Tree"}
