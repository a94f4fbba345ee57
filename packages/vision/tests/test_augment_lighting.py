"""Lighting augmentations: effect, range, reversibility, composition into one pass; RGB <-> HSV."""

import colorsys

import pytest
import torch

from lamina.vision.augment import (
    Brightness,
    Contrast,
    Hue,
    LightingTfm,
    Saturation,
    hsv2rgb,
    logit,
    rgb2hsv,
    setup_aug_tfms,
)
from lamina.vision.core import TensorImage, TensorMask

TRAIN = 0


def run(tfm, b):
    return tfm(b, split_idx=TRAIN)


def plain(t):
    return t.as_subclass(torch.Tensor)


@pytest.fixture
def images():
    torch.manual_seed(0)
    return TensorImage(torch.rand(4, 3, 10, 12) * 0.9 + 0.05)


def test_brightness_moves_the_mean_and_neutral_draw_changes_nothing(images):
    brighter = run(Brightness(p=1.0, draw=0.7), images)
    darker = run(Brightness(p=1.0, draw=0.3), images)
    assert isinstance(brighter, TensorImage)
    assert (plain(brighter) > plain(images)).all() and (plain(darker) < plain(images)).all()
    torch.testing.assert_close(
        plain(run(Brightness(p=1.0, draw=0.5), images)), plain(images), atol=1e-6, rtol=0
    )


def test_contrast_spreads_or_squeezes_around_the_middle(images):
    more = plain(run(Contrast(p=1.0, draw=2.0), images))
    less = plain(run(Contrast(p=1.0, draw=0.5), images))
    dist = (plain(images) - 0.5).abs()
    assert ((more - 0.5).abs() >= dist - 1e-6).all() and ((less - 0.5).abs() <= dist + 1e-6).all()


def test_saturation_zero_gives_grey_and_keeps_it_rgb(images):
    grey = plain(run(Saturation(p=1.0, draw=0.0), images))
    torch.testing.assert_close(grey[:, 0], grey[:, 1], atol=1e-6, rtol=0)
    torch.testing.assert_close(grey[:, 1], grey[:, 2], atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="RGB"):
        run(Saturation(p=1.0), TensorImage(torch.rand(2, 1, 4, 4)))


@pytest.mark.parametrize(
    "forward, backward",
    [
        (Brightness(p=1.0, draw=0.8), Brightness(p=1.0, draw=0.2)),  # logit(1 - c) = -logit(c)
        (Contrast(p=1.0, draw=1.5), Contrast(p=1.0, draw=1 / 1.5)),
        (Saturation(p=1.0, draw=1.7), Saturation(p=1.0, draw=1 / 1.7)),
        (Hue(p=1.0, draw=0.23), Hue(p=1.0, draw=-0.23)),
    ],
)
def test_each_lighting_op_reverses(images, forward, backward):
    changed = run(forward, images)
    assert (plain(changed) - plain(images)).abs().max() > 0.02
    torch.testing.assert_close(plain(run(backward, changed)), plain(images), atol=1e-4, rtol=0)


def test_extreme_draws_keep_the_range():
    x = TensorImage(torch.rand(8, 3, 6, 6))
    x[0] = 0.0
    x[1] = 1.0
    for tfm in (
        Brightness(p=1.0, draw=0.99),
        Brightness(p=1.0, draw=0.01),
        Contrast(p=1.0, draw=20.0),
        Saturation(p=1.0, draw=5.0),
        Hue(p=1.0, draw=0.5),
    ):
        y = plain(run(tfm, x))
        assert y.min() >= 0.0 and y.max() <= 1.0 and torch.isfinite(y).all(), tfm


def test_composed_lighting_equals_applying_each_in_turn(images):
    steps = [Brightness(p=1.0, draw=0.62), Contrast(p=1.0, draw=0.8), Saturation(p=1.0, draw=1.3)]
    (composed,) = setup_aug_tfms(steps)
    assert type(composed) is LightingTfm and len(composed.fs) == 3
    one_pass = plain(run(composed, images))
    in_turn = images
    for t in steps:
        in_turn = run(t, in_turn)
    torch.testing.assert_close(one_pass, plain(in_turn), atol=1e-5, rtol=0)


def test_lighting_draws_per_image_with_p():
    torch.manual_seed(0)
    x = TensorImage(torch.full((300, 3, 2, 2), 0.4))
    y = plain(run(Brightness(max_lighting=0.5, p=0.75), x))
    changed = (y - 0.4).abs().amax((1, 2, 3)) > 1e-5
    assert 0.65 < changed.float().mean().item() < 0.85
    same = plain(run(Brightness(max_lighting=0.5, p=1.0, batch=True), x))
    assert torch.allclose(same, same[:1].expand_as(same))


def test_hue_shift_by_a_third_turns_red_into_green():
    red = TensorImage(torch.tensor([1.0, 0.0, 0.0]).reshape(1, 3, 1, 1))
    torch.testing.assert_close(
        plain(run(Hue(p=1.0, draw=1 / 3), red)).flatten(), torch.tensor([0.0, 1.0, 0.0])
    )


def test_rgb2hsv_matches_colorsys_and_round_trips():
    torch.manual_seed(1)
    x = torch.rand(2, 3, 5, 5)
    x[0, :, 0, 0] = torch.tensor([0.3, 0.3, 0.3])  # grey: hue 0, saturation 0
    hsv = rgb2hsv(x)
    for b, i, j in [(0, 0, 0), (0, 1, 2), (1, 4, 4), (1, 0, 3)]:
        expected = colorsys.rgb_to_hsv(*x[b, :, i, j].tolist())
        torch.testing.assert_close(hsv[b, :, i, j], torch.tensor(expected), atol=1e-5, rtol=0)
    torch.testing.assert_close(hsv2rgb(hsv), x, atol=1e-5, rtol=0)


def test_logit_inverts_sigmoid():
    y = torch.linspace(-6, 6, 13)
    torch.testing.assert_close(logit(torch.sigmoid(y)), y, atol=1e-4, rtol=0)


def test_lighting_touches_images_only_and_training_only(images):
    mask = TensorMask(torch.ones(4, 10, 12, dtype=torch.long))
    b = (images, mask)
    y, m = run(Brightness(p=1.0, draw=0.9), b)
    assert m is mask
    assert Brightness.order == 40  # after IntToFloatTensor (10), before Normalize (99)
    assert Brightness(p=1.0, draw=0.9)(b, split_idx=1) is b


def test_integer_images_are_refused_with_a_hint():
    with pytest.raises(TypeError, match="IntToFloatTensor"):
        run(Contrast(p=1.0), TensorImage(torch.zeros(2, 3, 4, 4, dtype=torch.uint8)))


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_lighting"):
        Brightness(max_lighting=1.5)
    with pytest.raises(ValueError, match="p must be between 0 and 1"):
        Contrast(p=2.0)
    with pytest.raises(TypeError, match="different colour spaces"):
        Brightness().compose(Hue())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_lighting_matches_cpu(images):
    (tfm,) = setup_aug_tfms(
        [Brightness(p=1.0, draw=0.6), Contrast(p=1.0, draw=1.2), Saturation(p=1.0, draw=0.7)]
    )
    hue = Hue(p=1.0, draw=0.1)
    cpu = run(hue, run(tfm, images))
    gpu = run(hue, run(tfm, images.cuda()))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(plain(gpu.cpu()), plain(cpu), atol=1e-4, rtol=0)
    half = run(tfm, images.cuda().half())
    assert half.dtype == torch.float16 and torch.isfinite(plain(half)).all()
