"""Coordinate augmentations: each one's effect on a batch; images, masks, points and boxes move together."""

import math

import pytest
import torch

from lamina.vision.augment import (
    AffineCoordTfm,
    Dihedral,
    Flip,
    RandomResizedCropGPU,
    Rotate,
    Warp,
    Zoom,
    affine_mat,
    homography,
    setup_aug_tfms,
    transform_points,
    warp_mat,
)
from lamina.vision.core import TensorBBox, TensorImage, TensorMask, TensorPoint

TRAIN = 0


def merged(*tfms):
    (res,) = setup_aug_tfms(tfms)
    return res


def run(tfm, b):
    return tfm(b, split_idx=TRAIN)


def pixel_to_coord(c, size):
    """Pixel-centre index -> edge-based -1..1 coordinate (the convention of lamina.vision.core)."""
    return (c + 0.5) / size * 2 - 1


def coord_to_pixel(p, size):
    return (p + 1) / 2 * size - 0.5


def blob_image(h, w, centres, radius=1):
    """A black batch with a bright square of side 2*radius+1 around each (row, col) in `centres`."""
    x = torch.zeros(len(centres), 1, h, w)
    for i, (r, c) in enumerate(centres):
        x[i, :, r - radius : r + radius + 1, c - radius : c + radius + 1] = 1.0
    return TensorImage(x)


def centroid(img):
    """Intensity-weighted centre (col, row) of each image `(bs, 1, h, w)`, in pixels."""
    w = img.as_subclass(torch.Tensor)[:, 0].clamp(min=0)
    rows = torch.arange(w.shape[1], dtype=w.dtype)[None, :, None]
    cols = torch.arange(w.shape[2], dtype=w.dtype)[None, None, :]
    total = w.sum((1, 2))
    return torch.stack([(w * cols).sum((1, 2)) / total, (w * rows).sum((1, 2)) / total], dim=-1)


# ---- single transforms -------------------------------------------------------------------------------
def test_flip_equals_torch_flip_and_p0_changes_nothing():
    x = TensorImage(torch.rand(3, 3, 8, 11))
    y = run(Flip(p=1.0), x)
    assert isinstance(y, TensorImage)
    torch.testing.assert_close(
        y.as_subclass(torch.Tensor), x.flip(-1).as_subclass(torch.Tensor), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(run(Flip(p=0.0), x), x, atol=1e-6, rtol=0)


def test_rotate_by_90_degrees_equals_rot90():
    x = TensorImage(torch.rand(2, 3, 9, 9))
    plain = x.as_subclass(torch.Tensor)
    anticlockwise = run(Rotate(p=1.0, draw=90), x).as_subclass(torch.Tensor)
    clockwise = run(Rotate(p=1.0, draw=-90), x).as_subclass(torch.Tensor)
    torch.testing.assert_close(anticlockwise, torch.rot90(plain, 1, (2, 3)), atol=1e-4, rtol=0)
    torch.testing.assert_close(clockwise, torch.rot90(plain, -1, (2, 3)), atol=1e-4, rtol=0)


def test_rotation_of_a_non_square_image_keeps_angles():
    # a blob on the horizontal axis of a wide image, rotated by 90 degrees, lands on the vertical axis at the
    # same distance in PIXELS from the centre (a rotation in normalised coordinates would shear it instead)
    h, w = 21, 41
    x = blob_image(h, w, [(10, 28)])  # 8 px right of the centre (col 20)
    y = run(Rotate(p=1.0, draw=90, pad_mode="zeros"), x)
    col, row = centroid(y)[0].tolist()
    assert col == pytest.approx(20, abs=0.3) and row == pytest.approx(10 - 8, abs=0.3)


def test_zoom_by_2_is_the_centre_crop_stretched():
    x = TensorImage(torch.rand(2, 3, 17, 17))
    y = run(Zoom(min_zoom=2.0, max_zoom=2.0, p=1.0, draw_x=0.5, draw_y=0.5), x).as_subclass(torch.Tensor)
    # with align_corners=True every other output pixel lands exactly on an input pixel of the centre crop
    torch.testing.assert_close(
        y[..., ::2, ::2], x.as_subclass(torch.Tensor)[..., 4:13, 4:13], atol=1e-5, rtol=0
    )
    # and a linear ramp stays a linear ramp with half the slope
    ramp = TensorImage(torch.arange(17.0).expand(1, 1, 17, 17).clone())
    z = run(Zoom(min_zoom=2.0, max_zoom=2.0, p=1.0, draw_x=0.5, draw_y=0.5), ramp).as_subclass(torch.Tensor)
    torch.testing.assert_close(z[0, 0, 3], 4 + torch.arange(17.0) / 2, atol=1e-4, rtol=0)


def test_zoom_centre_follows_draw_x_and_draw_y():
    x = TensorImage(torch.rand(1, 1, 9, 9))
    y = run(Zoom(min_zoom=2.0, max_zoom=2.0, p=1.0, draw_x=0.0, draw_y=1.0), x).as_subclass(torch.Tensor)
    # draw_x=0 keeps the left edge, draw_y=1 the bottom edge: the bottom-left quarter, stretched
    torch.testing.assert_close(
        y[..., ::2, ::2], x.as_subclass(torch.Tensor)[..., 4:9, 0:5], atol=1e-5, rtol=0
    )


def test_dihedral_gives_the_eight_symmetries_of_the_square():
    base = torch.rand(1, 2, 7, 7)
    x = TensorImage(base.expand(8, 2, 7, 7).clone())
    y = run(Dihedral(p=1.0, draw=list(range(8))), x).as_subclass(torch.Tensor)
    symmetries = [torch.rot90(base[0], k, (1, 2)) for k in range(4)]
    symmetries += [s.flip(-1) for s in symmetries]
    for out in y:
        assert min((out - s).abs().max().item() for s in symmetries) < 1e-4
    distinct = {tuple(out.flatten().round(decimals=3).tolist()) for out in y}
    assert len(distinct) == 8


def test_per_image_probability_and_whole_batch_draws():
    torch.manual_seed(0)
    x = TensorImage(torch.rand(1, 1, 6, 6).expand(200, 1, 6, 6).clone())
    plain = x.as_subclass(torch.Tensor)
    flipped = (run(Flip(p=0.5), x).as_subclass(torch.Tensor) - plain).abs().amax((1, 2, 3)) > 1e-3
    assert 0.35 < flipped.float().mean().item() < 0.65
    rotated = run(Rotate(max_deg=30, p=1.0, batch=True), x[:16]).as_subclass(torch.Tensor)
    assert torch.allclose(rotated, rotated[:1].expand_as(rotated))  # one angle for the batch
    rotated = run(Rotate(max_deg=30, p=1.0), x[:16]).as_subclass(torch.Tensor)
    assert not torch.allclose(rotated, rotated[:1].expand_as(rotated))


def test_warp_matrix_maps_the_corners_as_documented():
    x = torch.zeros(2, 1, 4, 4)
    m = warp_mat(x, p=1.0, draw_x=[0.2, 0.0], draw_y=[0.0, -0.1])
    corners = torch.tensor([[-1.0, -1], [1, -1], [-1, 1], [1, 1]]).expand(2, 4, 2)
    mapped = transform_points(m, corners)
    expected = torch.tensor(
        [
            [
                [-1.0, -0.8],
                [1, -1.2],
                [-1, 0.8],
                [1, 1.2],
            ],  # x by 0.2: left edge spans 0.8 of the height, right 1.2
            [
                [-1.1, -1.0],
                [1.1, -1],
                [-0.9, 1],
                [0.9, 1],
            ],  # y by -0.1: top edge spans 1.1 of the width, bottom 0.9
        ]
    )
    torch.testing.assert_close(mapped, expected, atol=1e-5, rtol=0)
    assert torch.allclose(homography(corners, mapped), m, atol=1e-5)


def test_affine_mat_builds_the_matrix_rows():
    ones, zeros = torch.ones(2), torch.zeros(2)
    m = affine_mat(ones * 2, zeros, ones * 3, zeros, ones, zeros)
    assert m.shape == (2, 3, 3)
    assert m[0].tolist() == [[2.0, 0.0, 3.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]


def test_output_size_resizes_every_part_and_updates_img_size():
    x = TensorImage(torch.rand(2, 3, 20, 30))
    mask = TensorMask(torch.randint(0, 3, (2, 20, 30)))
    pts = TensorPoint(torch.zeros(2, 1, 2), img_size=(30, 20))
    y, m, p = run(Rotate(p=1.0, draw=5, size=(12, 16)), (x, mask, pts))
    assert y.shape == (2, 3, 12, 16) and m.shape == (2, 12, 16)
    assert p.img_size == (16, 12)
    torch.testing.assert_close(p.as_subclass(torch.Tensor), torch.zeros(2, 1, 2), atol=1e-6, rtol=0)  # centre


def test_uint8_images_are_resampled_and_stay_uint8():
    x = TensorImage(torch.randint(0, 256, (2, 3, 10, 10), dtype=torch.uint8))
    tfm = Rotate(p=1.0, draw=20)
    y = run(tfm, x)
    assert y.dtype == torch.uint8
    ref = run(tfm, TensorImage(x.float()))
    assert (y.float() - ref.as_subclass(torch.Tensor)).abs().max() <= 0.5 + 1e-4


# ---- one resampling for every part of a batch --------------------------------------------------------
def _rotate_zoom_warp(size=None):
    return merged(
        Rotate(p=1.0, draw=30, size=size),
        Zoom(min_zoom=1.3, max_zoom=1.3, p=1.0, draw_x=0.4, draw_y=0.6, size=size),
        Warp(p=1.0, draw_x=0.1, draw_y=-0.08, size=size),
    )


@pytest.mark.parametrize("size", [None, (48, 40)])
def test_points_stay_on_their_bright_pixels(size):
    h, w = 32, 36
    centres = [(10, 12), (20, 22), (15, 17)]
    x = blob_image(h, w, centres)
    pts = torch.tensor([[pixel_to_coord(c, w), pixel_to_coord(r, h)] for r, c in centres])[:, None]
    tfm = _rotate_zoom_warp(size)
    y, p = run(tfm, (x, TensorPoint(pts, img_size=(w, h))))
    out_h, out_w = y.shape[-2:]
    assert p.img_size == (out_w, out_h)
    found = centroid(y)
    moved = p.as_subclass(torch.Tensor)[:, 0]
    predicted = torch.stack([coord_to_pixel(moved[:, 0], out_w), coord_to_pixel(moved[:, 1], out_h)], dim=-1)
    assert (predicted - found).abs().max() < 0.35, (predicted, found)


def test_a_box_still_encloses_its_bright_rectangle():
    h = w = 40
    x = torch.zeros(2, 1, h, w)
    x[0, :, 12:20, 15:29] = 1.0  # rows 12..19, cols 15..28
    x[1, :, 22:30, 8:14] = 1.0
    boxes = torch.tensor(
        [
            [
                [15 / w * 2 - 1, 12 / h * 2 - 1, 29 / w * 2 - 1, 20 / h * 2 - 1],
                [0.0, 0, 0, 0],
            ],  # + a padding box
            [[8 / w * 2 - 1, 22 / h * 2 - 1, 14 / w * 2 - 1, 30 / h * 2 - 1], [0.0, 0, 0, 0]],
        ]
    )
    tfm = _rotate_zoom_warp()
    y, b = run(tfm, (TensorImage(x), TensorBBox(boxes, img_size=(w, h))))
    b = b.as_subclass(torch.Tensor)
    assert b[:, 1].abs().max() == 0  # padding (zero-area) boxes are left alone
    assert b.min() >= -1 and b.max() <= 1
    for i in range(2):
        rows, cols = torch.nonzero(y[i, 0].as_subclass(torch.Tensor) > 0.5, as_tuple=True)
        x0, y0, x1, y1 = ((b[i, 0] + 1) / 2 * torch.tensor([w, h, w, h])).tolist()  # edges, in pixels
        # every bright pixel lies inside the box...
        assert cols.min() >= x0 - 0.5 and cols.max() + 1 <= x1 + 0.5
        assert rows.min() >= y0 - 0.5 and rows.max() + 1 <= y1 + 0.5
        # ...and the box is the enclosing box of the moved rectangle, not much more
        assert x0 > cols.min() - 2 and x1 < cols.max() + 3 and y0 > rows.min() - 2 and y1 < rows.max() + 3


def test_boxes_leaving_the_image_are_clipped_to_it():
    x = TensorImage(torch.rand(1, 1, 16, 16))
    box = TensorBBox(torch.tensor([[[0.5, 0.5, 0.9, 0.9]]]), img_size=(16, 16))
    _, b = run(Zoom(min_zoom=2.0, max_zoom=2.0, p=1.0, draw_x=0.0, draw_y=0.0), (x, box))
    assert b.as_subclass(torch.Tensor).tolist() == [[[1.0, 1.0, 1.0, 1.0]]]  # collapsed on the corner


def test_points_leaving_the_image_keep_their_coordinates():
    x = TensorImage(torch.rand(1, 1, 16, 16))
    pts = TensorPoint(torch.tensor([[[0.75, -0.75]]]), img_size=(16, 16))
    _, p = run(Zoom(min_zoom=2.0, max_zoom=2.0, p=1.0, draw_x=0.5, draw_y=0.5, align_corners=False), (x, pts))
    torch.testing.assert_close(p.as_subclass(torch.Tensor), torch.tensor([[[1.5, -1.5]]]))


def test_masks_stay_integer_codes_and_move_with_the_image():
    torch.manual_seed(1)
    codes = torch.randint(0, 5, (3, 1, 6, 6)).repeat_interleave(4, dim=2).repeat_interleave(4, dim=3)  # 24x24
    mask = TensorMask(codes[:, 0].clone(), codes=list("abcde"))
    tfm = merged(Rotate(max_deg=40, p=1.0), Zoom(max_zoom=1.5, p=1.0), Warp(p=1.0))
    img, m = run(tfm, (TensorImage(codes.float()), mask))
    assert isinstance(m, TensorMask) and m.dtype == torch.int64 and m.codes == list("abcde")
    assert set(m.unique().tolist()) <= set(range(5))
    assert not torch.equal(m.as_subclass(torch.Tensor), codes[:, 0])  # it did move
    # within one call the image, resampled with nearest too, is exactly the mask: both use the same grid
    tfm.mode = "nearest"
    img, m = run(tfm, (TensorImage(codes.float()), mask))
    assert torch.equal(img.as_subclass(torch.Tensor)[:, 0].long(), m.as_subclass(torch.Tensor))


# ---- splits, determinism, errors ----------------------------------------------------------------------
def test_validation_and_plain_calls_leave_the_batch_untouched():
    b = (TensorImage(torch.rand(2, 3, 8, 8)), TensorMask(torch.zeros(2, 8, 8, dtype=torch.long)))
    tfm = merged(Flip(p=1.0), Rotate(p=1.0))
    assert tfm(b, split_idx=1) is b
    assert tfm(b) is b
    assert not torch.equal(run(tfm, b)[0], b[0])


def test_seeded_runs_repeat():
    x = TensorImage(torch.rand(4, 3, 12, 12))

    def once(seed):
        torch.manual_seed(seed)
        return run(merged(Flip(), Warp(), Rotate(), Zoom()), x)

    assert torch.equal(once(3), once(3))
    assert not torch.equal(once(3), once(4))
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    a = run(Rotate(max_deg=45, p=1.0, generator=g1), x)
    torch.manual_seed(123)  # the global seed does not matter with a generator
    b = run(Rotate(max_deg=45, p=1.0, generator=g2), x)
    assert torch.equal(a, b)


def test_random_resized_crop_gpu_crops_training_and_centres_validation():
    ramp = TensorImage(torch.arange(16.0).expand(4, 1, 16, 16).clone())  # value = column index
    tfm = RandomResizedCropGPU(8, min_scale=0.25)
    assert tfm.split_idx is None
    valid = tfm(ramp, split_idx=1).as_subclass(torch.Tensor)
    torch.testing.assert_close(valid[0, 0, 0], torch.arange(8.0) * 15 / 7, atol=1e-4, rtol=0)  # whole width
    torch.manual_seed(0)
    train = tfm(ramp, split_idx=0).as_subclass(torch.Tensor)
    assert train.shape == (4, 1, 8, 8)
    span = train[:, 0, 0, -1] - train[:, 0, 0, 0]  # columns covered by each crop
    assert (span >= 0.5 * 15 - 1e-3).all() and (span <= 15 + 1e-3).all()
    assert not torch.allclose(span, span[:1].expand_as(span))


def test_rrc_shares_the_training_resampling_but_alone_on_validation():
    tfm = merged(Rotate(p=1.0, draw=90), RandomResizedCropGPU(8, min_scale=1.0, ratio=(1, 1)))
    assert tfm.split_idx is None
    x = TensorImage(torch.rand(2, 3, 16, 16))
    val = tfm(x, split_idx=1).as_subclass(torch.Tensor)
    rot = tfm(x, split_idx=0).as_subclass(torch.Tensor)
    torch.testing.assert_close(rot, torch.rot90(val, 1, (2, 3)), atol=1e-4, rtol=0)


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="pad_mode"):
        Rotate(pad_mode="mirror")
    with pytest.raises(ValueError, match=r"\(bs, C, H, W\)"):
        run(Rotate(p=1.0), TensorImage(torch.rand(3, 8, 8)))
    with pytest.raises(TypeError, match="no image or mask"):
        run(Rotate(p=1.0), (torch.rand(2, 3, 8, 8), TensorPoint(torch.zeros(2, 1, 2))))
    with pytest.raises(ValueError, match="3 items"):
        run(Rotate(p=1.0), (TensorImage(torch.rand(2, 3, 8, 8)), TensorMask(torch.zeros(3, 8, 8))))
    with pytest.raises(ValueError, match="must return a \\(2, 3, 3\\) tensor"):
        run(AffineCoordTfm(aff_fs=lambda x: torch.eye(3)), TensorImage(torch.rand(2, 3, 4, 4)))
    with pytest.raises(ValueError, match="size"):
        Rotate(size=8).compose(Zoom(size=10))
    with pytest.raises(ValueError, match="pad_mode differs"):
        Rotate(pad_mode="zeros").compose(Zoom())
    with pytest.raises(ValueError, match="draw"):
        run(Rotate(p=1.0, draw=[1.0, 2.0, 3.0]), TensorImage(torch.rand(2, 3, 4, 4)))


def test_user_coordinate_functions_bend_the_grid_and_invert_for_points():
    class Shift:
        """Samples 0.25 to the right (content moves left), in sampling coordinates."""

        def __call__(self, coords, invert=False):
            return coords + torch.tensor([-0.25 if invert else 0.25, 0.0])

    x = blob_image(17, 17, [(8, 8)])
    pts = TensorPoint(torch.tensor([[[pixel_to_coord(8, 17), pixel_to_coord(8, 17)]]]), img_size=(17, 17))
    y, p = run(AffineCoordTfm(coord_fs=Shift(), pad_mode="zeros"), (x, pts))
    col, row = centroid(y)[0].tolist()
    assert col == pytest.approx(6, abs=1e-3) and row == pytest.approx(8, abs=1e-3)  # 0.25 * (17 - 1) / 2 px
    assert coord_to_pixel(p[0, 0, 0].item(), 17) == pytest.approx(6, abs=1e-4)
    assert coord_to_pixel(p[0, 0, 1].item(), 17) == pytest.approx(8, abs=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_batch_matches_cpu():
    x = TensorImage(torch.rand(4, 3, 32, 32))
    mask = TensorMask(torch.randint(0, 4, (4, 32, 32)))
    pts = TensorPoint(torch.rand(4, 5, 2) * 2 - 1, img_size=(32, 32))
    tfm = _rotate_zoom_warp()
    cpu = run(tfm, (x, mask, pts))
    gpu = run(tfm, (x.cuda(), mask.cuda(), pts.cuda()))
    assert gpu[0].device.type == "cuda"
    for a, b in zip(cpu, gpu):
        assert type(a) is type(b)
        got, expected = b.cpu().as_subclass(torch.Tensor).float(), a.as_subclass(torch.Tensor).float()
        torch.testing.assert_close(got, expected, atol=1e-3, rtol=0)
    torch.manual_seed(0)
    drawn = run(merged(Flip(), Warp(), Rotate(), Zoom()), x.cuda())  # draws on the device
    assert drawn.device.type == "cuda" and drawn.shape == x.shape


def test_rotation_matrix_is_a_rotation_in_pixels():
    x = torch.zeros(1, 1, 10, 20)
    from lamina.vision.augment import rotate_mat

    m = rotate_mat(x, p=1.0, draw=30)[0, :2, :2]
    to_pixels = torch.diag(torch.tensor([10.0, 5.0]))  # normalised -> pixels (half width, half height)
    pix = to_pixels @ m @ torch.linalg.inv(to_pixels)
    c, s = math.cos(math.pi / 6), math.sin(math.pi / 6)
    torch.testing.assert_close(pix, torch.tensor([[c, -s], [s, c]]))


@pytest.mark.filterwarnings("ignore:Since version 1.3.0")  # affine_grid on unit sizes, for the comparison
@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize("size", [None, (5, 1), (1, 7)])
def test_resampling_matches_affine_grid_and_grid_sample(align_corners, size):
    torch.manual_seed(0)
    x = torch.rand(3, 2, 9, 12)
    theta = torch.eye(3).repeat(3, 1, 1)
    theta[:, :2] += 0.2 * torch.randn(3, 2, 3)
    tfm = AffineCoordTfm(aff_fs=lambda b: theta, size=size, align_corners=align_corners, pad_mode="zeros")
    out_hw = size or (9, 12)
    grid = torch.nn.functional.affine_grid(theta[:, :2], [3, 2, *out_hw], align_corners=align_corners)
    expected = torch.nn.functional.grid_sample(x, grid, padding_mode="zeros", align_corners=align_corners)
    torch.testing.assert_close(
        run(tfm, TensorImage(x)).as_subclass(torch.Tensor), expected, atol=1e-5, rtol=0
    )
