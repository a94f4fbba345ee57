"""Vision item transforms: sizes, split behaviour, and points/boxes/masks that follow the pixels exactly."""

import random

import numpy as np
import pytest
import torch
from PIL import Image

from lamina.core.data.transforms import ToTensor
from lamina.vision.core import TensorBBox, TensorImage, TensorImageBW, TensorMask, TensorPoint
from lamina.vision.image import PILImage, PILImageBW, PILMask
from lamina.vision.transforms import (
    CropPad,
    IntToFloatTensor,
    PointScaler,
    RandomCrop,
    RandomResizedCrop,
    Resize,
)

W, H = 60, 40
OBJ = (12, 8, 30, 20)  # x_min, y_min, x_max, y_max of the object drawn in the mask


@pytest.fixture
def sample():
    """A random RGB image 60x40, a mask with one rectangular object (code 2), its box and its corners."""
    rng = np.random.default_rng(0)
    img = PILImage.create(rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8))
    m = np.zeros((H, W), dtype=np.uint8)
    x0, y0, x1, y1 = OBJ
    m[y0:y1, x0:x1] = 2
    box = TensorBBox.create([OBJ])
    corners = TensorPoint.create([[x0, y0], [x1, y1]])
    return img, PILMask.create(m), box, corners


def _extent(mask) -> list[float]:
    """The box (x_min, y_min, x_max, y_max) of the non-zero pixels of a mask, in pixel-edge coordinates."""
    a = np.asarray(mask) if isinstance(mask, Image.Image) else mask.numpy()
    ys, xs = np.nonzero(a)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


# ---- ToTensor / IntToFloatTensor --------------------------------------------------------------------------
def test_to_tensor_cases_for_pil_types(sample):
    img, mask, *_ = sample
    t_img, t_mask = ToTensor()((img, mask))
    assert type(t_img) is TensorImage and t_img.shape == (3, H, W) and t_img.dtype == torch.uint8
    assert torch.equal(t_img.permute(1, 2, 0), torch.from_numpy(np.array(img)))
    assert type(t_mask) is TensorMask and t_mask.shape == (H, W)
    assert set(t_mask.unique().tolist()) == {0, 2}
    bw = ToTensor()(PILImageBW.create(np.asarray(img)[..., 0]))
    assert type(bw) is TensorImageBW and bw.shape == (1, H, W)


def test_int_to_float_tensor_encodes_and_decodes():
    img = TensorImage(torch.tensor([[[0, 51, 255]]], dtype=torch.uint8))
    mask = TensorMask(torch.tensor([[0, 4, 8]], dtype=torch.uint8))
    tfm = IntToFloatTensor()
    f_img, f_mask = tfm((img, mask))
    assert f_img.dtype == torch.float32 and torch.allclose(f_img, torch.tensor([[[0.0, 0.2, 1.0]]]))
    assert type(f_img) is TensorImage
    assert f_mask.dtype == torch.long and f_mask.tolist() == [[0, 4, 8]]
    back = tfm.decode(f_img)
    assert back.dtype == torch.uint8 and torch.equal(back, img)
    assert IntToFloatTensor(div_mask=4)(mask).tolist() == [[0, 1, 2]]


# ---- sizes and split behaviour ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "tfm, size",
    [
        (Resize(20), (20, 20)),
        (Resize((24, 30), method="squish"), (30, 24)),
        (Resize((10, 30), method="pad"), (30, 10)),
        (RandomResizedCrop(16), (16, 16)),
        (RandomCrop(30), (30, 30)),
        (CropPad(50), (50, 50)),
    ],
)
@pytest.mark.parametrize("split_idx", [0, 1])
def test_output_sizes_for_every_part(sample, tfm, size, split_idx):
    img, mask, box, corners = sample
    out = tfm((img, mask, box, corners), split_idx=split_idx)
    assert type(out[0]) is PILImage and out[0].size == size
    assert type(out[1]) is PILMask and out[1].size == size
    assert out[2].img_size == size and out[3].img_size == size
    assert set(np.unique(np.asarray(out[1])).tolist()) <= {0, 2}  # nearest: no blended codes


def test_training_crops_are_random_and_validation_crops_centred(sample):
    img, *_ = sample
    tfm = Resize(20)
    centre = np.asarray(img.crop((10, 0, 50, 40)).resize((20, 20), Image.BILINEAR))
    for _ in range(3):
        np.testing.assert_array_equal(np.asarray(tfm(img, split_idx=1)), centre)
        np.testing.assert_array_equal(np.asarray(tfm(img)), centre)  # a direct call is deterministic
    random.seed(0)
    train = {np.asarray(tfm(img, split_idx=0)).tobytes() for _ in range(10)}
    assert len(train) > 1


def test_random_resized_crop_validation_is_resize_then_centre_crop(sample):
    img, *_ = sample
    out = RandomResizedCrop(16, val_xtra=0.14)(img, split_idx=1)
    xtra = 8  # ceil(16 * 0.14 / 8) * 8
    big = img.resize((16 + xtra, 16 + xtra), Image.BILINEAR)
    expected = big.crop((xtra // 2, xtra // 2, xtra // 2 + 16, xtra // 2 + 16))
    np.testing.assert_array_equal(np.asarray(out), np.asarray(expected))


def test_random_resized_crop_training_area_and_ratio(sample):
    img, mask, *_ = sample
    tfm = RandomResizedCrop(16, min_scale=0.5, ratio=(1.0, 1.0))
    random.seed(1)
    for _ in range(20):
        (step,) = tfm.plan((W, H), split_idx=0)
        assert step.width == step.height  # ratio 1
        assert 0.5 * W * H * 0.9 <= step.width * step.height <= W * H
        assert 0 <= step.left <= W - step.width and 0 <= step.top <= H - step.height


def test_random_crop_pads_small_images_and_centres_in_validation():
    a = np.arange(16, dtype=np.uint8).reshape(4, 4) + 1
    img = PILImageBW.create(a)
    np.testing.assert_array_equal(np.asarray(RandomCrop(2)(img, split_idx=1)), a[1:3, 1:3])
    out = np.asarray(RandomCrop(6)(img, split_idx=0))
    assert out.shape == (6, 6) and (out == 0).sum() == 36 - 16  # zeros around, every pixel kept
    assert sorted(out[out > 0].tolist()) == list(range(1, 17))


def test_crop_pad_modes():
    a = np.array([[1, 2, 3]], dtype=np.uint8).repeat(3, axis=0)  # 3x3, columns 1 2 3
    img = PILImageBW.create(a)
    zeros = np.asarray(CropPad((3, 7), pad_mode="zeros")(img))[0]
    border = np.asarray(CropPad((3, 7), pad_mode="border")(img))[0]
    reflect = np.asarray(CropPad((3, 7), pad_mode="reflection")(img))[0]
    assert zeros.tolist() == [0, 0, 1, 2, 3, 0, 0]
    assert border.tolist() == [1, 1, 1, 2, 3, 3, 3]
    assert reflect.tolist() == [3, 2, 1, 2, 3, 2, 1]
    t = CropPad((3, 7), pad_mode="reflection")(TensorImageBW(torch.from_numpy(a)[None]))
    assert t[0, 0].tolist() == reflect.tolist()


# ---- coordinates follow the pixels -----------------------------------------------------------------------
def test_resize_coordinates_by_hand(sample):
    img, mask, box, corners = sample
    # Resize(20) on 60x40, centred: the crop is x 10..50 (40x40), scaled by 0.5
    _, _, b, p = Resize(20)((img, mask, box, corners), split_idx=1)
    assert b.tolist() == [[1.0, 4.0, 10.0, 10.0]]
    assert p.tolist() == [[1.0, 4.0], [10.0, 10.0]]
    # squish to (h=20, w=30): x scaled by 0.5, y by 0.5
    _, _, b, _ = Resize((20, 30), method="squish")((img, mask, box, corners), split_idx=1)
    assert b.tolist() == [[6.0, 4.0, 15.0, 10.0]]
    # pad to a square: the 60x40 image sits in a 60x60 region starting at y=-10, scaled by 1/3
    _, _, b, _ = Resize(20, method="pad")((img, mask, box, corners), split_idx=1)
    assert b[0].tolist() == pytest.approx([4.0, 6.0, 10.0, 10.0])


@pytest.mark.parametrize(
    "tfm, exact",
    [
        (Resize(20), False),
        (Resize((30, 45), method="squish"), False),
        (Resize(20, method="pad", pad_mode="zeros"), False),
        (RandomResizedCrop(24, min_scale=0.35), False),
        (RandomCrop(36), True),
        (CropPad(70), True),
        (Resize(120), False),
    ],
)
def test_boxes_and_points_follow_the_object(sample, tfm, exact):
    """Under random training parameters, the box and corners land where the mask's object lands."""
    img, mask, box, corners = sample
    random.seed(7)
    for _ in range(5):
        out = tfm((img, mask, box, corners), split_idx=0)
        m = np.asarray(out[1])
        if not m.any():  # the crop missed the object: nothing to compare
            continue
        w, h = out[1].size
        expected = _extent(out[1])
        got = out[2][0].tolist()
        # the box is clipped to the image; compare with the (equally clipped) corners
        corner_box = out[3].reshape(-1).tolist()
        clipped = [min(max(v, 0), lim) for v, lim in zip(corner_box, (w, h, w, h))]
        assert got == pytest.approx(clipped, abs=1e-4)
        tolerance = 0 if exact else 1.0  # nearest resampling moves an edge by less than a pixel
        assert got == pytest.approx(expected, abs=tolerance + 1e-4)


def test_tensor_and_pil_paths_agree(sample):
    img, mask, box, _ = sample
    t_img, t_mask = ToTensor()((img, mask))
    for tfm in (Resize(20), Resize(33, method="pad"), RandomResizedCrop(16), CropPad(50)):
        for split in (0, 1):
            random.seed(3)
            p_out = tfm((img, mask, box), split_idx=split)
            random.seed(3)
            t_out = tfm((t_img, t_mask, box), split_idx=split)
            assert type(t_out[0]) is TensorImage and type(t_out[1]) is TensorMask
            diff = np.abs(np.asarray(p_out[0]).astype(int) - t_out[0].permute(1, 2, 0).numpy().astype(int))
            assert diff.max() <= 1
            # nearest sampling may round a source position lying exactly between two pixels differently
            assert (np.asarray(p_out[1]) != t_out[1].numpy()).mean() < 0.02
            assert torch.equal(p_out[2], t_out[2])


def test_point_scaler_maps_edges_to_minus_one_and_one():
    img = PILImage.create(np.zeros((40, 60, 3), dtype=np.uint8))
    pts = TensorPoint.create([[0, 0], [60, 40], [30, 20]])
    box = TensorBBox.create([[0, 0, 60, 40]])
    tfm = PointScaler()
    _, p, b = tfm((img, pts, box))
    assert p.tolist() == [[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]] and p.img_size == (60, 40)
    assert b.tolist() == [[-1.0, -1.0, 1.0, 1.0]]
    _, p2, b2 = tfm.decode((img, p, b))
    assert p2.tolist() == pts.tolist() and b2.tolist() == box.tolist()
    flipped = PointScaler(y_first=True)((img, TensorPoint.create([[40, 0]])))[1]
    assert flipped.tolist() == [[-1.0, 1.0]]


def test_point_scaler_without_an_image_needs_img_size():
    assert PointScaler()(TensorPoint.create([[5, 5]], img_size=(10, 10))).tolist() == [[0.0, 0.0]]
    with pytest.raises(ValueError, match="no image size"):
        PointScaler()(TensorPoint.create([[5, 5]]))


def test_points_alone_need_their_image_size():
    with pytest.raises(ValueError, match="without the image size"):
        Resize(10)(TensorPoint.create([[1, 1]]))
    moved = Resize(10, method="squish")(TensorPoint.create([[10, 20]], img_size=(20, 40)))
    assert moved.tolist() == [[5.0, 5.0]] and moved.img_size == (10, 10)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="pad_mode"):
        Resize(10, pad_mode="mirror")
    with pytest.raises(ValueError, match="method"):
        Resize(10, method="stretch")
    with pytest.raises(TypeError, match="size"):
        RandomCrop("big")
    with pytest.raises(ValueError, match="min_scale"):
        RandomResizedCrop(10, min_scale=0)
    img, mask = PILImage.create(np.zeros((4, 6, 3), np.uint8)), PILMask.create(np.zeros((5, 6), np.uint8))
    with pytest.raises(ValueError, match="does not match"):
        Resize(3)((img, mask))


def test_dropped_samples_pass_through():
    assert Resize(10)(None) is None and PointScaler()(None) is None
