"""Vision blocks, getters and factories on real sample data (MNIST, nuclei segmentation, tree detection)."""

import csv
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lamina.core.data.block import DataBlock
from lamina.core.data.blocks import CategoryBlock
from lamina.core.data.getters import parent_label
from lamina.core.data.load import DataLoaderError
from lamina.core.data.splitters import GrandparentSplitter, RandomSplitter
from lamina.core.losses import CrossEntropyLossFlat, MSELossFlat
from lamina.core.tensors import TensorCategory, TensorMultiCategory
from lamina.vision.core import TensorBBox, TensorImage, TensorImageBW, TensorMask, TensorPoint
from lamina.vision.data import (
    BBoxBlock,
    BBoxLblBlock,
    ImageBlock,
    PointBlock,
    UnreadableImageWarning,
    bb_pad,
    get_annotations,
    get_image_files,
    image_extensions,
)
from lamina.vision.factories import ImageDataLoaders, SegmentationDataLoaders
from lamina.vision.image import ImageReadError, PILImageBW
from lamina.vision.samples import mnist_tiny_path
from lamina.vision.transforms import Resize

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def shared_data() -> Path:
    path = Path(os.environ.get("LAMINA_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not path.exists():
        pytest.fail(f"sample data not found at {path}; set LAMINA_SHARED_DATA")
    return path


@pytest.fixture
def mnist():
    return mnist_tiny_path()


def _pixel_values(dl):
    return [b for b in dl]


# ---- shipped sample and getters ---------------------------------------------------------------------------
def test_shipped_mnist_tiny(mnist):
    assert (mnist / "ATTRIBUTION.md").read_text().count("CC BY-SA 3.0") >= 1
    counts = {split: len(get_image_files(mnist / split)) for split in ("train", "valid", "test")}
    assert counts == {"train": 500, "valid": 200, "test": 20}
    with open(mnist / "labels.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 700 and all((mnist / r["name"]).parent.name == r["label"] for r in rows)


def test_get_image_files_filters_by_extension_and_folder(tmp_path, mnist):
    for name in ("a.png", "b.JPG", "c.txt", "sub/d.jpeg", ".hidden.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in get_image_files(tmp_path)] == ["a.png", "b.JPG", "d.jpeg"]
    assert [p.name for p in get_image_files(tmp_path, recurse=False)] == ["a.png", "b.JPG"]
    assert len(get_image_files(mnist, folders=["train", "valid"])) == 700
    assert {".png", ".jpg", ".jpeg", ".tif", ".webp"} <= image_extensions and ".txt" not in image_extensions


def test_get_annotations_matches_the_box_table(shared_data):
    det = shared_data / "detection_sample"
    names, targets = get_annotations(det / "train.json", prefix="train/")
    assert len(names) == len(targets) == 40
    table: dict[str, list] = {}
    with open(det / "boxes.csv") as f:
        for r in csv.DictReader(f):
            if r["split"] == "train":
                box = [float(r[k]) for k in ("xmin", "ymin", "xmax", "ymax")]
                table.setdefault(r["image"], []).append((box, r["label"]))
    assert sum(len(b) for b, _ in targets) == 574 + 105  # every train box (README: 679 train boxes)
    for name, (boxes, labels) in zip(names, targets):
        assert sorted(zip(boxes, labels)) == sorted(table[name])
    folder_names, _ = get_annotations(det / "train.json", prefix=det / "train")
    assert all(Path(n).exists() for n in folder_names)


def test_get_annotations_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        get_annotations(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": []}')
    with pytest.raises(ValueError, match="bad.json.*missing key 'categories'"):
        get_annotations(bad)


# ---- the paper's MNIST DataBlock --------------------------------------------------------------------------
def test_paper_mnist_datablock(mnist):
    dblock = DataBlock(
        blocks=(ImageBlock(cls=PILImageBW), CategoryBlock),
        get_items=get_image_files,
        splitter=GrandparentSplitter(),
        get_y=parent_label,
    )
    dls = dblock.dataloaders(mnist, bs=64)
    assert (len(dls.train_ds), len(dls.valid_ds)) == (500, 200)
    assert list(dls.vocab) == ["3", "7"]
    assert isinstance(dls.loss_func, CrossEntropyLossFlat)
    x, y = dls.train.one_batch()
    assert type(x) is TensorImageBW and x.shape == (64, 1, 28, 28) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1 and x.max() > 0.9
    assert type(y) is TensorCategory and y.shape == (64,) and set(y.tolist()) <= {0, 1}
    # the labels are those of the files' folders
    xv, yv = dls.valid.one_batch()
    files = dls.valid_ds.items[:64]
    assert [dls.vocab[i] for i in yv.tolist()] == [parent_label(f) for f in files]
    expected = torch.from_numpy(np.array(PILImageBW.create(files[0]))).float() / 255
    assert torch.allclose(xv[0, 0], expected)


# ---- factories --------------------------------------------------------------------------------------------
def test_from_folder(mnist):
    dls = ImageDataLoaders.from_folder(mnist, bs=32, item_tfms=Resize(20))
    assert isinstance(dls, ImageDataLoaders)
    assert (len(dls.train_ds), len(dls.valid_ds)) == (500, 200)  # test/ is left out
    assert list(dls.vocab) == ["3", "7"] and dls.c == 2 and isinstance(dls.loss_func, CrossEntropyLossFlat)
    x, _ = dls.valid.one_batch()
    assert type(x) is TensorImage and x.shape == (32, 3, 20, 20)
    rnd = ImageDataLoaders.from_folder(mnist / "train", valid_pct=0.2, seed=42, bs=8)
    assert (len(rnd.train_ds), len(rnd.valid_ds)) == (400, 100)
    again = ImageDataLoaders.from_folder(mnist / "train", valid_pct=0.2, seed=42, bs=8)
    assert list(rnd.valid_ds.items) == list(again.valid_ds.items)


def test_from_name_re_and_name_func(tmp_path, mnist):
    for f in get_image_files(mnist / "valid"):  # names that carry the label: 3_1500.png
        shutil.copy(f, tmp_path / f"{f.parent.name}_{f.name}")
    fnames = get_image_files(tmp_path)
    dls = ImageDataLoaders.from_name_re(tmp_path, fnames, r"^(\d)_\d+\.png$", valid_pct=0.25, seed=0, bs=16)
    assert list(dls.vocab) == ["3", "7"] and (len(dls.train_ds), len(dls.valid_ds)) == (150, 50)
    x, y = dls.train.one_batch()
    assert x.shape == (16, 3, 28, 28) and y.shape == (16,)
    by_func = ImageDataLoaders.from_name_func(
        tmp_path, fnames, lambda name: name[0], valid_pct=0.25, seed=0, bs=16
    )
    assert list(by_func.vocab) == ["3", "7"]
    assert list(by_func.valid_ds.items) == list(dls.valid_ds.items)


def test_from_path_re_and_path_func(mnist):
    fnames = get_image_files(mnist / "valid")
    dls = ImageDataLoaders.from_path_re(mnist, fnames, r"/(\d)/\d+\.png$", seed=1, bs=10)
    assert list(dls.vocab) == ["3", "7"]
    dls = ImageDataLoaders.from_path_func(mnist, fnames, parent_label, seed=1, bs=10)
    _, y = dls.valid.one_batch()
    assert [dls.vocab[i] for i in y.tolist()] == [f.parent.name for f in dls.valid_ds.items[:10]]


def test_from_csv_and_from_df(mnist):
    dls = ImageDataLoaders.from_csv(mnist, bs=16, seed=0)
    assert list(dls.vocab) == [3, 7] and dls.c == 2 and len(dls.train_ds) + len(dls.valid_ds) == 700
    df = pd.read_csv(mnist / "labels.csv")
    df["tags"] = df["label"].map({3: "three;odd", 7: "seven;odd"})
    df["is_valid"] = df["name"].str.startswith("valid")
    dls = ImageDataLoaders.from_df(df, mnist, label_col="tags", label_delim=";", valid_col="is_valid", bs=8)
    assert list(dls.vocab) == ["odd", "seven", "three"] and dls.c == 3
    assert (len(dls.train_ds), len(dls.valid_ds)) == (500, 200)
    _, y = dls.train.one_batch()
    assert type(y) is TensorMultiCategory and y.shape == (8, 3) and torch.all(y[:, 0] == 1)


def test_from_lists(mnist):
    fnames = get_image_files(mnist / "valid")
    labels = ["three" if f.parent.name == "3" else "seven" for f in fnames]
    dls = ImageDataLoaders.from_lists(mnist, fnames, labels, seed=0, bs=8)
    assert list(dls.vocab) == ["seven", "three"]
    with pytest.raises(ValueError, match="200 file names but 3 labels"):
        ImageDataLoaders.from_lists(mnist, fnames, labels[:3])


# ---- segmentation -----------------------------------------------------------------------------------------
def test_segmentation_from_label_func(shared_data):
    path = shared_data / "segmentation_sample"
    codes = np.loadtxt(path / "codes.txt", dtype=str)
    fnames = get_image_files(path / "images")
    dls = SegmentationDataLoaders.from_label_func(
        path, fnames, lambda o: path / "labels" / f"{o.stem}_P{o.suffix}", codes=codes, seed=0, bs=4
    )
    assert isinstance(dls, SegmentationDataLoaders)
    assert (len(dls.train_ds), len(dls.valid_ds)) == (13, 3)
    assert dls.vocab == ["background", "nucleus"] and dls.c == 2
    assert isinstance(dls.loss_func, CrossEntropyLossFlat) and dls.loss_func.axis == 1
    x, y = dls.train.one_batch()
    assert type(x) is TensorImage and x.shape == (4, 3, 128, 128)
    assert type(y) is TensorMask and y.shape == (4, 128, 128) and y.dtype == torch.long
    assert set(y.unique().tolist()) == {0, 1}
    grey = x.mean(1)  # nuclei are the bright blobs: the mask must sit on them
    assert grey[y == 1].mean() > 2 * grey[y == 0].mean()
    decoded = dls.train.decode_batch((x, y), max_n=1)[0]
    assert decoded[1].codes == ["background", "nucleus"]


# ---- points and boxes -------------------------------------------------------------------------------------
def test_point_block_scales_points(mnist):
    fnames = get_image_files(mnist / "valid")[:8]
    dblock = DataBlock(
        blocks=(ImageBlock(cls=PILImageBW), PointBlock),
        get_y=lambda o: [[7, 14], [21, 0]],
        splitter=RandomSplitter(seed=0),
        item_tfms=Resize(56, method="squish"),
    )
    dls = dblock.dataloaders(fnames, bs=4)
    assert isinstance(dls.loss_func, MSELossFlat)
    x, y = dls.train.one_batch()
    assert x.shape == (4, 1, 56, 56) and type(y) is TensorPoint and y.shape == (4, 2, 2)
    expected = torch.tensor([[14 / 28 - 1, 28 / 28 - 1], [42 / 28 - 1, -1.0]])
    assert torch.allclose(y, expected.expand(4, 2, 2))
    decoded = dls.train.decode_batch((x, y), max_n=1)[0][1]
    assert torch.allclose(decoded, torch.tensor([[14.0, 28.0], [42.0, 0.0]]))


@pytest.fixture
def detection(shared_data):
    det = shared_data / "detection_sample"
    names, targets = get_annotations(det / "train.json")
    return det, dict(zip(names, targets))


def _detection_block(img2bbox, **kwargs):
    return DataBlock(
        blocks=(ImageBlock, BBoxBlock, BBoxLblBlock),
        get_items=get_image_files,
        splitter=RandomSplitter(seed=0),
        get_y=[lambda o: img2bbox[o.name][0], lambda o: img2bbox[o.name][1]],
        n_inp=1,
        **kwargs,
    )


def test_detection_datablock_pads_batches(detection):
    det, img2bbox = detection
    dls = _detection_block(img2bbox, item_tfms=Resize(128, method="squish")).dataloaders(det / "train", bs=4)
    assert list(dls.vocab) == ["#na#", "Tree"]
    x, boxes, labels = dls.valid.one_batch()
    assert type(x) is TensorImage and x.shape == (4, 3, 128, 128)
    assert type(boxes) is TensorBBox and type(labels) is TensorMultiCategory
    files = dls.valid_ds.items[:4]
    counts = [len(img2bbox[f.name][0]) for f in files]
    assert boxes.shape == (4, max(counts), 4) and labels.shape == (4, max(counts))
    for k, n in enumerate(counts):  # real boxes labelled Tree (1), then padding: zero boxes labelled #na# (0)
        assert labels[k, :n].tolist() == [1] * n and labels[k, n:].tolist() == [0] * (max(counts) - n)
        assert torch.all(boxes[k, n:] == 0)
        assert boxes[k, :n].min() >= -1 and boxes[k, :n].max() <= 1
    # decoded boxes are the annotations, squished from 400x400 to 128x128
    img, dec_boxes, labelled = dls.valid.decode_batch((x, boxes, labels), max_n=1)[0]
    original = torch.tensor(img2bbox[files[0].name][0]) * 128 / 400
    assert torch.allclose(dec_boxes[: counts[0]], original, atol=1e-3)
    assert list(labelled.lbl[: counts[0]]) == ["Tree"] * counts[0]


def test_bb_pad_drops_empty_boxes_and_pads():
    img = TensorImage(torch.zeros(3, 2, 2))
    s1 = (
        img,
        TensorBBox(torch.tensor([[-0.5, -0.5, 0.5, 0.5], [0.2, 0.2, 0.2, 0.9]])),
        TensorMultiCategory([1, 2]),
    )
    s2 = (img, TensorBBox(torch.tensor([[-2.0, -0.5, 0.0, 0.5], [0, 0, 1, 1], [0.1, 0.1, 0.3, 0.3]])),
          TensorMultiCategory([2, 1, 1]))  # fmt: skip
    out = bb_pad([s1, s2])
    assert out[0][1].tolist() == [[-0.5, -0.5, 0.5, 0.5], [0, 0, 0, 0], [0, 0, 0, 0]]  # empty box dropped
    assert out[0][2].tolist() == [1, 0, 0]
    assert out[1][1][0].tolist() == [-1.0, -0.5, 0.0, 0.5]  # clipped to the image
    assert type(out[0][1]) is TensorBBox and type(out[1][2]) is TensorMultiCategory
    assert bb_pad([s1], pad_idx=5)[0][2].tolist() == [1]
    with pytest.raises(ValueError, match="2 boxes but 3 labels"):
        bb_pad([(img, s1[1], TensorMultiCategory([1, 2, 3]))])


# ---- unreadable files -------------------------------------------------------------------------------------
@pytest.fixture
def mnist_with_bad_files(tmp_path, mnist):
    for split in ("train", "valid"):
        shutil.copytree(mnist / split, tmp_path / split)
    (tmp_path / "train" / "3" / "garbage.png").write_bytes(b"not a png")
    good = next((tmp_path / "valid" / "7").iterdir()).read_bytes()
    (tmp_path / "valid" / "7" / "truncated.png").write_bytes(good[:100])
    return tmp_path


def _mnist_block(skip_bad):
    return DataBlock(
        blocks=(ImageBlock(cls=PILImageBW, skip_bad=skip_bad), CategoryBlock),
        get_items=get_image_files,
        splitter=GrandparentSplitter(),
        get_y=parent_label,
    )


def test_unreadable_file_fails_naming_it(mnist_with_bad_files):
    dls = _mnist_block(skip_bad=False).dataloaders(mnist_with_bad_files, bs=1000, shuffle=False)
    with pytest.raises(DataLoaderError, match="garbage.png"):
        dls.train.one_batch()
    with pytest.raises(ImageReadError, match="truncated.png"):
        dls.valid_ds[len(dls.valid_ds) - 1]


def test_skip_bad_warns_once_with_the_count(mnist_with_bad_files):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dls = _mnist_block(skip_bad=True).dataloaders(mnist_with_bad_files, bs=64, shuffle=False)
        seen_train = sum(len(x) for x, _ in dls.train)
        seen_valid = sum(len(x) for x, _ in dls.valid)
    ours = [w for w in caught if issubclass(w.category, UnreadableImageWarning)]
    assert len(ours) == 1
    message = str(ours[0].message)
    assert "2 of 702 images cannot be read" in message
    assert "garbage.png" in message and "truncated.png" in message
    assert (len(dls.train_ds), len(dls.valid_ds)) == (501, 201)
    assert (seen_train, seen_valid) == (500, 200)  # every readable image, and only those


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batches_on_the_gpu_decode_on_the_cpu(mnist):
    dls = ImageDataLoaders.from_folder(mnist, bs=16, device="cuda", item_tfms=Resize(20))
    x, y = dls.valid.one_batch()
    assert x.device.type == "cuda" and type(x) is TensorImage and x.dtype == torch.float32
    decoded = dls.valid.decode_batch((x, y), max_n=2)
    assert decoded[0][0].device.type == "cpu" and decoded[0][0].dtype == torch.uint8
