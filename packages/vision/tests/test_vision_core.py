"""Vision types and I/O: PIL types created from anything image-like, tensor types, unreadable files."""

import io
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from lamina.core.tensors import TensorBase
from lamina.vision.core import (
    LabeledBBox,
    TensorBBox,
    TensorImage,
    TensorImageBase,
    TensorImageBW,
    TensorMask,
    TensorPoint,
)
from lamina.vision.image import (
    ImageReadError,
    PILImage,
    PILImageBW,
    PILMask,
    image2tensor,
    load_image,
)
from lamina.vision.samples import mnist_tiny_path

DIGIT = "train/3/1500.png"


@pytest.fixture
def digit_path():
    return mnist_tiny_path() / DIGIT


@pytest.fixture
def rgb_array():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)


def _png_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="png")
    return buf.getvalue()


# ---- PIL types ------------------------------------------------------------------------------------------
def test_pil_types_from_a_path(digit_path):
    raw = np.asarray(Image.open(digit_path))
    bw = PILImageBW.create(digit_path)
    assert type(bw) is PILImageBW and bw.mode == "L" and bw.shape == (28, 28) and bw.n_px == 784
    np.testing.assert_array_equal(np.asarray(bw), raw)
    rgb = PILImage.create(str(digit_path))
    assert type(rgb) is PILImage and rgb.mode == "RGB" and rgb.size == (28, 28)
    np.testing.assert_array_equal(np.asarray(rgb)[..., 1], raw)


def test_pil_types_from_bytes_array_tensor_and_image(rgb_array):
    from_bytes = PILImage.create(_png_bytes(rgb_array))
    from_array = PILImage.create(rgb_array)
    from_tensor = PILImage.create(torch.from_numpy(rgb_array).permute(2, 0, 1))  # channels first
    from_image = PILImage.create(Image.fromarray(rgb_array))
    for img in (from_bytes, from_array, from_tensor, from_image):
        assert type(img) is PILImage and img.shape == (5, 7) and img.aspect == pytest.approx(7 / 5)
        np.testing.assert_array_equal(np.asarray(img), rgb_array)


def test_create_converts_modes_and_value_ranges():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    assert PILImage.create(grey).mode == "RGB"
    floats = PILImageBW.create(grey.astype(np.float32) / 255)
    np.testing.assert_array_equal(np.asarray(floats), grey)
    assert PILImageBW.create(torch.from_numpy(grey)[None]).size == (4, 3)  # (1, H, W) tensor
    with pytest.raises(ValueError, match="0..1"):
        PILImage.create(np.full((2, 2), 3.0))
    with pytest.raises(ValueError, match="0..255"):
        PILImage.create(np.full((2, 2), 300))
    with pytest.raises(ValueError, match="channels first"):
        PILImage.create(torch.zeros(8, 4, 4, dtype=torch.uint8))
    with pytest.raises(TypeError, match="PILImage.create: cannot make an image from a dict"):
        PILImage.create({"a": 1})


def test_mask_keeps_palette_indices_and_codes():
    codes = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    pal = Image.fromarray(codes, mode="P")
    pal.putpalette([0, 0, 0, 255, 255, 255, 128, 0, 255] + [0] * (256 * 3 - 9))
    mask = PILMask.create(_as_png(pal))
    assert type(mask) is PILMask and mask.mode == "L"
    np.testing.assert_array_equal(np.asarray(mask), codes)  # not the palette's grey levels
    assert TensorMask.create(_as_png(pal)).tolist() == codes.tolist()


def _as_png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="png")
    return buf.getvalue()


def test_to_bytes_format_round_trips(rgb_array):
    img = PILImage.create(rgb_array)
    data = img.to_bytes_format()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_array_equal(np.asarray(PILImage.create(data)), rgb_array)
    assert img.to_bytes_format("jpeg")[:2] == b"\xff\xd8"


def test_pil_types_pickle_and_repr(rgb_array):
    img = PILImage.create(rgb_array)
    back = pickle.loads(pickle.dumps(img))
    assert type(back) is PILImage
    np.testing.assert_array_equal(np.asarray(back), rgb_array)
    assert repr(img) == "PILImage mode=RGB size=7x5"


def test_image2tensor_is_channels_first_uint8(rgb_array):
    t = image2tensor(PILImage.create(rgb_array))
    assert t.shape == (3, 5, 7) and t.dtype == torch.uint8
    assert torch.equal(t.permute(1, 2, 0), torch.from_numpy(rgb_array))
    assert image2tensor(PILImageBW.create(rgb_array[..., 0])).shape == (1, 5, 7)
    t[0, 0, 0] = 1  # writable, independent of the image


# ---- unreadable files -----------------------------------------------------------------------------------
def test_corrupt_and_truncated_files_name_the_file(tmp_path, digit_path):
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"not an image at all")
    with pytest.raises(ImageReadError, match="garbage.png"):
        load_image(garbage)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(digit_path.read_bytes()[:120])
    with pytest.raises(ImageReadError, match="truncated.png"):
        PILImageBW.create(truncated)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        PILImage.create(tmp_path / "missing.png")
    with pytest.raises(ImageReadError, match="<5 bytes>"):
        PILImage.create(b"12345")
    assert issubclass(ImageReadError, OSError)


def test_load_image_converts_to_mode_and_closes_the_file(digit_path):
    img = load_image(digit_path, mode="RGB")
    assert img.mode == "RGB" and img.size == (28, 28)
    assert load_image(digit_path).mode == "L"


# ---- tensor types ---------------------------------------------------------------------------------------
def test_tensor_image_types_keep_their_type_and_show_hierarchy():
    img = TensorImage(torch.zeros(3, 4, 5, dtype=torch.uint8))
    assert type(img.float() / 255) is TensorImage
    assert type(torch.stack([img, img])) is TensorImage
    bw = TensorImageBW(torch.zeros(1, 4, 5))
    assert isinstance(bw, TensorImage) and isinstance(bw, TensorImageBase) and isinstance(bw, TensorBase)
    assert not isinstance(TensorMask(torch.zeros(4, 5)), TensorImage)


def test_tensor_image_create_from_a_file(digit_path):
    bw = TensorImageBW.create(digit_path)
    assert type(bw) is TensorImageBW and bw.shape == (1, 28, 28) and bw.dtype == torch.uint8
    assert TensorImage.create(digit_path).shape == (3, 28, 28)
    t = torch.ones(3, 2, 2)
    assert TensorImage.create(t).data_ptr() == t.data_ptr()  # a tensor is wrapped, not copied


def test_mask_codes_survive_ops():
    m = TensorMask(torch.tensor([[0, 1], [1, 0]]), codes=["bg", "fg"])
    assert (m + 0).codes == ["bg", "fg"] and m[0].codes == ["bg", "fg"]


def test_point_create_shapes_and_img_size(digit_path):
    p = TensorPoint.create([[1, 2], [3, 4]], img_size=(10, 20))
    assert type(p) is TensorPoint and p.dtype == torch.float32 and p.img_size == (10, 20)
    assert TensorPoint.create([1, 2, 3, 4]).shape == (2, 2)  # a flat list of pairs
    assert TensorPoint.create(np.zeros((0, 2))).shape == (0, 2)
    assert TensorPoint.create([[1, 2]], img_size=PILImage.create(digit_path)).img_size == (28, 28)
    assert TensorPoint.create([[1, 2]], img_size=torch.zeros(3, 5, 7)).img_size == (7, 5)
    assert TensorPoint.create([[1, 2]], img_size=16).img_size == (16, 16)
    assert (p * 2).img_size == (10, 20) and type(p * 2) is TensorPoint
    with pytest.raises(ValueError, match=r"TensorPoint.create: expected coordinates of shape \(n, 2\)"):
        TensorPoint.create([[1, 2, 3]])
    with pytest.raises(ValueError, match="img_size must be"):
        TensorPoint.create([[1, 2]], img_size=(1, 2, 3))


def test_bbox_create_and_labeled_bbox():
    b = TensorBBox.create([[1, 2, 3, 4], [5, 6, 7, 8]], img_size=(10, 10))
    assert type(b) is TensorBBox and isinstance(b, TensorPoint) and b.shape == (2, 4)
    assert TensorBBox.create([1, 2, 3, 4]).shape == (1, 4)
    with pytest.raises(ValueError, match=r"\(n, 4\)"):
        TensorBBox.create([[1, 2]])
    lb = LabeledBBox(b, ["cat", "dog"])
    assert lb.bbox is b and lb.lbl == ["cat", "dog"] and isinstance(lb, tuple)
