"""Interpretation and ClassificationInterpretation, checked against predictions worked out independently.

The models here are fixed functions of the image (its mean brightness, or each pixel's), so the expected
predictions, losses and confusion matrices are computed straight from the image files with numpy."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from lamina.core.data.block import DataBlock
from lamina.core.data.blocks import CategoryBlock, MultiCategoryBlock, TransformBlock
from lamina.core.data.splitters import RandomSplitter
from lamina.core.learner.learner import Learner
from lamina.core.losses import BCEWithLogitsLossFlat, CrossEntropyLossFlat
from lamina.vision.data import get_image_files
from lamina.vision.factories import ImageDataLoaders, SegmentationDataLoaders
from lamina.vision.image import PILImageBW
from lamina.vision.interpret import ClassificationInterpretation, Interpretation
from lamina.vision.samples import mnist_tiny_path

REPO_ROOT = Path(__file__).resolve().parents[3]
SCALE = 8.0


@pytest.fixture
def shared_data() -> Path:
    path = Path(os.environ.get("LAMINA_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not path.exists():
        pytest.fail(f"sample data not found at {path}; set LAMINA_SHARED_DATA")
    return path


class Brightness(nn.Module):
    """Two-class logits from brightness: `(d, -d)` with `d = (level - threshold) * SCALE`, where `level` is
    the image's mean (per_pixel=False) or each pixel's mean over the channels (per_pixel=True)."""

    def __init__(self, threshold: float, per_pixel: bool = False):
        super().__init__()
        self.threshold, self.per_pixel = threshold, per_pixel
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        level = x.mean(1) if self.per_pixel else x.mean((1, 2, 3))
        d = (level - self.threshold) * SCALE
        return torch.stack([d, -d], 1)


def logits_of(level, threshold):
    d = (level - threshold) * SCALE
    return np.stack([d, -d], -1)


def cross_entropy(logits, target):
    top = logits.max(-1, keepdims=True)
    lse = np.log(np.exp(logits - top).sum(-1)) + top[..., 0]
    return lse - np.take_along_axis(logits, target[..., None], -1)[..., 0]


def midway_threshold(levels):
    """A threshold between two neighbouring levels near the median, away from every level."""
    s = np.sort(levels)
    i = len(s) // 2
    while s[i] - s[i - 1] < 1e-3:
        i += 1
    return float((s[i] + s[i - 1]) / 2)


@pytest.fixture(scope="module")
def mnist():
    """A Learner on the MNIST sample predicting from the images' brightness, and the expected values."""
    dls = ImageDataLoaders.from_folder(mnist_tiny_path(), img_cls=PILImageBW, bs=64)
    files = list(dls.valid_ds.items)
    levels = np.array([np.asarray(Image.open(f), dtype=np.float64).mean() / 255 for f in files])
    threshold = midway_threshold(levels)
    targets = np.array([dls.vocab.index(f.parent.name) for f in files])
    logits = logits_of(levels, threshold)
    expected = {
        "files": files,
        "targets": targets,
        "preds": logits.argmax(-1),
        "losses": cross_entropy(logits, targets),
        "probs": np.exp(logits.max(-1)) / np.exp(logits).sum(-1),
    }
    learn = Learner(dls, Brightness(threshold), loss_func=CrossEntropyLossFlat())
    return learn, expected


@pytest.fixture(scope="module")
def interp(mnist):
    return ClassificationInterpretation.from_learner(mnist[0])


def test_losses_and_predictions_in_dataset_order(mnist, interp):
    _, expected = mnist
    assert len(interp) == 200
    assert np.allclose(interp.losses.numpy(), expected["losses"], atol=1e-4)
    assert interp.decoded.tolist() == expected["preds"].tolist()
    assert interp.targs.tolist() == expected["targets"].tolist()
    assert np.allclose(interp.preds.numpy().max(1), expected["probs"], atol=1e-5)  # softmax applied


def test_a_shuffled_loader_is_read_in_order(mnist):
    learn, _ = mnist
    train = ClassificationInterpretation.from_learner(learn, ds_idx=0)  # shuffled, drops its last batch
    assert len(train) == 500
    labels = [learn.dls.vocab.index(f.parent.name) for f in learn.dls.train_ds.items]
    assert train.targs.tolist() == labels


def test_confusion_matrix_rows_are_actual_classes(mnist, interp):
    _, e = mnist
    expected = np.zeros((2, 2), dtype=int)
    for t, p in zip(e["targets"], e["preds"]):
        expected[t, p] += 1
    assert expected[0, 1] > 0 and expected[1, 0] > 0  # both kinds of mistake happen
    assert interp.vocab == ["3", "7"]
    assert interp.confusion_matrix().tolist() == expected.tolist()
    pairs = interp.most_confused()
    assert sorted(pairs, key=lambda p: -p[2]) == pairs
    assert set(pairs) == {("3", "7", int(expected[0, 1])), ("7", "3", int(expected[1, 0]))}
    assert interp.most_confused(min_val=int(max(expected[0, 1], expected[1, 0])) + 1) == []


def test_top_losses(mnist, interp):
    _, e = mnist
    order = np.argsort(-e["losses"], kind="stable")
    losses, idx = interp.top_losses(5)
    assert np.allclose(losses.numpy(), e["losses"][order[:5]], atol=1e-4)
    assert set(idx.tolist()) == set(order[:5].tolist())
    losses, idx, items = interp.top_losses(3, items=True)
    assert list(items) == [e["files"][i] for i in idx.tolist()]
    low, _ = interp.top_losses(4, largest=False)
    assert np.allclose(low.numpy(), np.sort(e["losses"])[:4], atol=1e-4)
    all_losses, _ = interp.top_losses()
    assert len(all_losses) == 200 and bool((all_losses[:-1] >= all_losses[1:]).all())
    with pytest.raises(ValueError, match=r"k must be an int in 1\.\.200"):
        interp.top_losses(0)
    with pytest.raises(ValueError, match="k must be"):
        interp.top_losses(201)


def test_plot_top_losses_titles_and_images(mnist, interp):
    _, e = mnist
    fig = interp.plot_top_losses(4)
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.images]
    assert len(axes) == 4
    order = np.argsort(-e["losses"], kind="stable")[:4]
    vocab = ["3", "7"]
    for ax, i in zip(axes, order):
        title = (
            f"{vocab[e['preds'][i]]}/{vocab[e['targets'][i]]} / {e['losses'][i]:.2f} / {e['probs'][i]:.2f}"
        )
        assert ax.get_title() == title
        shown = np.asarray(ax.images[0].get_array())
        assert np.array_equal(shown, np.asarray(Image.open(e["files"][i])))  # the item itself, decoded
    assert fig._suptitle.get_text() == "Prediction/Actual/Loss/Probability"


def test_plot_confusion_matrix(interp):
    fig = interp.plot_confusion_matrix()
    ax = fig.axes[0]
    cm = interp.confusion_matrix()
    assert sorted(t.get_text() for t in ax.texts) == sorted(str(v) for v in cm.flatten())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["3", "7"]
    assert ax.get_ylabel() == "Actual" and ax.get_xlabel() == "Predicted"
    fig = interp.plot_confusion_matrix(normalize=True, norm_dec=3, plot_txt=True)
    rows = cm / cm.sum(1, keepdims=True)
    assert sorted(t.get_text() for t in fig.axes[0].texts) == sorted(f"{v:.3f}" for v in rows.flatten())


# ---- segmentation: pixels as items of a confusion matrix; one loss per image -------------------------------
@pytest.fixture(scope="module")
def segmentation():
    root = Path(os.environ.get("LAMINA_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    path = root / "segmentation_sample"
    codes = np.loadtxt(path / "codes.txt", dtype=str)

    def label(o):
        return path / "labels" / f"{o.stem}_P{o.suffix}"

    dls = SegmentationDataLoaders.from_label_func(
        path, get_image_files(path / "images"), label, codes=codes, seed=0, bs=2
    )
    files = list(dls.valid_ds.items)
    levels = [np.asarray(Image.open(f).convert("RGB"), dtype=np.float64).mean(-1) / 255 for f in files]
    masks = [np.asarray(Image.open(label(f))).astype(int) for f in files]
    threshold = 0.15
    learn = Learner(dls, Brightness(threshold, per_pixel=True), loss_func=CrossEntropyLossFlat(axis=1))
    return learn, levels, masks, threshold


def test_segmentation_confusion_matrix_counts_pixels(segmentation):
    learn, levels, masks, threshold = segmentation
    interp = ClassificationInterpretation.from_learner(learn)
    expected = np.zeros((2, 2), dtype=int)
    losses = []
    for level, mask in zip(levels, masks):
        logits = logits_of(level, threshold)
        np.add.at(expected, (mask.ravel(), logits.argmax(-1).ravel()), 1)
        losses.append(cross_entropy(logits, mask).mean())
    assert interp.vocab == ["background", "nucleus"]
    assert interp.confusion_matrix().tolist() == expected.tolist()
    assert np.allclose(interp.losses.numpy(), losses, atol=1e-4)  # one loss per image: the mean over pixels


def test_segmentation_top_losses_show_target_beside_prediction(segmentation):
    learn = segmentation[0]
    interp = Interpretation.from_learner(learn)
    fig = interp.plot_top_losses(2)
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.images]
    assert len(axes) == 4
    losses, _ = interp.top_losses(2)
    assert [ax.get_title() for ax in axes] == [
        "target",
        f"prediction / loss {losses[0]:.2f}",
        "target",
        f"prediction / loss {losses[1]:.2f}",
    ]
    assert all(len(ax.images) == 2 for ax in axes)  # the image, and the mask over it


# ---- other data and errors ---------------------------------------------------------------------------------
class Parity(nn.Module):
    """Logits saying even/odd, wrong for multiples of 3."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        x = x.float()
        odd = torch.remainder(x, 2)
        odd = torch.where(torch.remainder(x, 3) == 0, 1 - odd, odd)
        return torch.stack([1 - odd, odd], 1) * 4.0


def test_plot_top_losses_of_other_data_is_a_table():
    dblock = DataBlock(
        blocks=(TransformBlock, CategoryBlock),
        get_y=lambda n: "even" if n % 2 == 0 else "odd",
        splitter=RandomSplitter(valid_pct=0.5, seed=0),
    )
    dls = dblock.dataloaders(list(range(1, 41)), bs=8)
    learn = Learner(dls, Parity(), loss_func=CrossEntropyLossFlat())
    interp = ClassificationInterpretation.from_learner(learn)
    table = interp.plot_top_losses(3)
    assert isinstance(table, pd.DataFrame) and len(table) == 3
    assert list(table.columns) == ["input", "target", "prediction", "loss", "probability"]
    numbers = [int(v) for v in table["input"]]
    assert all(n % 3 == 0 for n in numbers)  # the wrong ones have the largest losses
    for row, n in zip(table.itertuples(), numbers):
        assert row.target == ("even" if n % 2 == 0 else "odd") and row.prediction != row.target
    assert np.allclose(table["loss"], interp.top_losses(3)[0].numpy())


def test_multi_label_data_is_refused_with_a_clear_error():
    dblock = DataBlock(
        blocks=(TransformBlock, MultiCategoryBlock),
        get_y=lambda n: ["even" if n % 2 == 0 else "odd"] + (["three"] if n % 3 == 0 else []),
        splitter=RandomSplitter(valid_pct=0.5, seed=0),
    )
    dls = dblock.dataloaders(list(range(1, 21)), bs=4)

    class Three(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return torch.zeros(len(x), 3) + self.w

    interp = ClassificationInterpretation.from_learner(
        Learner(dls, Three(), loss_func=BCEWithLogitsLossFlat())
    )
    assert interp.losses.shape == (10,)  # one loss per item (the mean over its labels)
    with pytest.raises(TypeError, match="single-label class indices"):
        interp.confusion_matrix()


def test_unlabelled_data_has_no_losses(mnist):
    learn, _ = mnist
    test_dl = learn.dls.test_dl(get_image_files(mnist_tiny_path() / "test"))
    with pytest.raises(ValueError, match="no targets"):
        Interpretation.from_learner(learn, dl=test_dl)
