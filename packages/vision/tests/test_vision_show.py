"""Showing vision data: show_image(s), and show_batch / show_results figures for each kind of target."""

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from lamina.core.data.block import DataBlock  # noqa: E402
from lamina.core.data.splitters import RandomSplitter  # noqa: E402
from lamina.core.tensors import TensorCategory  # noqa: E402
from lamina.vision.core import TensorImage, TensorMask, TensorPoint  # noqa: E402
from lamina.vision.data import (  # noqa: E402
    BBoxBlock,
    BBoxLblBlock,
    ImageBlock,
    PointBlock,
    get_annotations,
    get_image_files,
)
from lamina.vision.factories import ImageDataLoaders, SegmentationDataLoaders  # noqa: E402
from lamina.vision.image import PILImage, PILImageBW  # noqa: E402
from lamina.vision.samples import mnist_tiny_path  # noqa: E402
from lamina.vision.show import show_boxes, show_image, show_images, show_points  # noqa: E402
from lamina.vision.transforms import Resize  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def shared_data() -> Path:
    path = Path(os.environ.get("LAMINA_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not path.exists():
        pytest.fail(f"sample data not found at {path}; set LAMINA_SHARED_DATA")
    return path


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def mnist_dls():
    return ImageDataLoaders.from_folder(mnist_tiny_path(), bs=16, img_cls=PILImageBW)


def _visible(fig):
    return [ax for ax in fig.axes if ax.axison or ax.images]


def _titles(fig):
    return [ax.get_title() for ax in _visible(fig)]


# ---- single images ----------------------------------------------------------------------------------------
def test_show_image_draws_pil_and_tensor_images():
    a = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    ax = show_image(PILImage.create(a), title="pil")
    assert ax.get_title() == "pil" and np.array_equal(ax.images[0].get_array(), a)
    ax = show_image(torch.from_numpy(a).permute(2, 0, 1))  # channels first
    assert np.array_equal(ax.images[0].get_array(), a)
    ax = show_image(TensorImage(torch.zeros(1, 4, 4)), cmap="Greys")
    assert ax.images[0].get_array().shape == (4, 4) and ax.images[0].get_cmap().name == "Greys"


def test_types_show_themselves():
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    ax = PILImage.create(a).show()
    assert ax.images[0].get_array().shape == (3, 4, 3)
    ax = TensorImage(torch.from_numpy(a)[None].expand(3, 3, 4)).show(ctx=ax)
    assert len(ax.images) == 2 and ax.images[1].get_array().shape == (3, 4, 3)
    mask = TensorMask(torch.tensor([[0, 1], [1, 0]]), codes=["bg", "a", "b"])
    overlay = mask.show(ctx=ax).images[-1]
    assert overlay.get_alpha() == 0.5 and overlay.get_clim() == (0, 2)  # a fixed colour per class


def test_show_images_returns_a_figure_with_titles(tmp_path):
    ims = [np.full((4, 4), v, dtype=np.uint8) for v in (0, 100, 200)]
    fig = show_images(ims, nrows=1, titles=["a", "b", "c"])
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "c"]
    fig.savefig(tmp_path / "ims.png")
    assert (tmp_path / "ims.png").stat().st_size > 0
    with pytest.raises(ValueError, match="2 titles for 3 images"):
        show_images(ims, titles=["a", "b"])


def test_points_and_boxes_are_drawn_at_pixel_positions():
    ax = show_image(np.zeros((10, 10), dtype=np.uint8))
    show_points(TensorPoint.create([[2, 3]]), ctx=ax)
    (offsets,) = ax.collections[0].get_offsets()
    assert offsets.tolist() == [1.5, 2.5]  # imshow centres pixel i at i; pixel i spans [i, i+1)
    show_boxes(torch.tensor([[1.0, 2.0, 5.0, 8.0], [0.0, 0.0, 0.0, 0.0]]), ctx=ax, labels=["a", "#na#"])
    rects = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(rects) == 1  # the empty (padding) box is not drawn
    assert (rects[0].get_x(), rects[0].get_y(), rects[0].get_width(), rects[0].get_height()) == (
        0.5,
        1.5,
        4,
        6,
    )
    assert [t.get_text() for t in ax.texts] == ["a"]


# ---- show_batch -------------------------------------------------------------------------------------------
def test_show_batch_image_category(mnist_dls, tmp_path):
    x, y = mnist_dls.valid.one_batch()
    fig = mnist_dls.valid.show_batch(max_n=9)
    assert len(_visible(fig)) == 9
    assert _titles(fig) == [mnist_dls.vocab[i] for i in y[:9].tolist()]
    assert all(len(ax.images) == 1 for ax in _visible(fig))
    fig.savefig(tmp_path / "batch.png")
    assert (tmp_path / "batch.png").stat().st_size > 1000


def test_show_batch_image_multi_category(shared_data):
    path = mnist_tiny_path()
    df = pd.read_csv(path / "labels.csv")
    df["tags"] = df["label"].map({3: "three;odd", 7: "seven;odd"})
    dls = ImageDataLoaders.from_df(df, path, label_col="tags", label_delim=";", seed=0, bs=8)
    fig = dls.valid.show_batch(max_n=4)
    titles = _titles(fig)
    assert len(titles) == 4 and all(t in ("odd;three", "odd;seven") for t in titles)


def _segmentation(shared_data):
    path = shared_data / "segmentation_sample"
    codes = np.loadtxt(path / "codes.txt", dtype=str)
    fnames = get_image_files(path / "images")
    return SegmentationDataLoaders.from_label_func(
        path, fnames, lambda o: path / "labels" / f"{o.stem}_P{o.suffix}", codes=codes, seed=0, bs=4
    )


def test_show_batch_image_mask_overlay(shared_data):
    dls = _segmentation(shared_data)
    x, y = dls.train.one_batch()
    fig = dls.train.show_batch((x, y), max_n=4)
    axes = _visible(fig)
    assert len(axes) == 4
    for k, ax in enumerate(axes):
        assert len(ax.images) == 2  # the image, then the mask over it
        overlay = ax.images[1]
        assert overlay.get_alpha() == 0.5 and overlay.get_cmap().name == "tab20"
        assert np.array_equal(np.asarray(overlay.get_array()), y[k].numpy())


def test_show_batch_image_points():
    fnames = get_image_files(mnist_tiny_path() / "valid")[:8]
    dblock = DataBlock(
        blocks=(ImageBlock(cls=PILImageBW), PointBlock),
        get_y=lambda o: [[7, 14], [21, 0]],
        splitter=RandomSplitter(seed=0),
        item_tfms=Resize(56, method="squish"),
    )
    dls = dblock.dataloaders(fnames, bs=4)
    fig = dls.train.show_batch(max_n=4)
    axes = _visible(fig)
    assert len(axes) == 4
    for ax in axes:
        (scatter,) = [c for c in ax.collections if isinstance(c, PathCollection)]
        assert np.allclose(scatter.get_offsets(), [[13.5, 27.5], [41.5, -0.5]])  # 2x, in pixels of 56x56


def test_show_batch_image_boxes_with_labels(shared_data):
    det = shared_data / "detection_sample"
    names, targets = get_annotations(det / "train.json")
    img2bbox = dict(zip(names, targets))
    dblock = DataBlock(
        blocks=(ImageBlock, BBoxBlock, BBoxLblBlock),
        get_items=get_image_files,
        splitter=RandomSplitter(seed=0),
        get_y=[lambda o: img2bbox[o.name][0], lambda o: img2bbox[o.name][1]],
        item_tfms=Resize(128, method="squish"),
        n_inp=1,
    )
    dls = dblock.dataloaders(det / "train", bs=4)
    fig = dls.valid.show_batch(max_n=4)
    axes = _visible(fig)
    assert len(axes) == 4
    for f, ax in zip(dls.valid_ds.items[:4], axes):
        n = len(img2bbox[f.name][0])
        assert len([p for p in ax.patches if isinstance(p, Rectangle)]) == n  # padding boxes left out
        assert [t.get_text() for t in ax.texts] == ["Tree"] * n


# ---- show_results -----------------------------------------------------------------------------------------
def test_show_results_marks_wrong_predictions(mnist_dls):
    x, y = mnist_dls.valid.one_batch()
    preds = TensorCategory(y.clone())
    preds[1] = 1 - preds[1]  # one wrong prediction
    fig = mnist_dls.valid.show_results((x, y), preds, max_n=4)
    axes = _visible(fig)
    assert len(axes) == 4
    vocab = mnist_dls.vocab
    for k, ax in enumerate(axes):
        assert ax.get_title() == f"{vocab[int(y[k])]}/{vocab[int(preds[k])]}"
        assert ax.title.get_color() == ("red" if k == 1 else "green")


def test_show_results_mask_target_next_to_prediction(shared_data):
    dls = _segmentation(shared_data)
    x, y = dls.valid.one_batch()
    pred = TensorMask(torch.zeros_like(y))
    fig = dls.valid.show_results((x, y), pred, max_n=2)
    axes = _visible(fig)
    assert len(axes) == 4 and _titles(fig) == ["target", "prediction"] * 2
    assert np.asarray(axes[1].images[1].get_array()).max() == 0  # the predicted (empty) mask
    assert np.array_equal(np.asarray(axes[0].images[1].get_array()), y[0].numpy())
