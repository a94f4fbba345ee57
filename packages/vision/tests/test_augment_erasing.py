"""RandomErasing: rectangles of noise per image, sized as asked, vectorised over the batch."""

import pytest
import torch

from lamina.vision.augment import RandomErasing
from lamina.vision.core import TensorImage, TensorMask

TRAIN = 0
FILL = 100.0  # far from any standard normal value: every erased pixel changes


def erased(tfm, x):
    y = tfm(x, split_idx=TRAIN).as_subclass(torch.Tensor)
    return (y != x.as_subclass(torch.Tensor)).any(dim=1)  # (bs, H, W)


def test_p0_changes_nothing_and_p1_erases_one_rectangle_per_image():
    torch.manual_seed(0)
    x = TensorImage(torch.full((16, 3, 20, 24), FILL))
    assert not erased(RandomErasing(p=0.0), x).any()
    changed = erased(RandomErasing(p=1.0, sl=0.05, sh=0.3), x)
    for m in changed:
        rows, cols = torch.nonzero(m, as_tuple=True)
        area = m.sum().item()
        assert 0.05 * 480 - 25 <= area <= 0.3 * 480 + 25
        box_area = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert box_area.item() == area  # one solid rectangle
    assert len({tuple(m.nonzero()[0].tolist()) for m in changed}) > 4  # each image draws its own


def test_aspect_stays_within_min_aspect():
    torch.manual_seed(1)
    x = TensorImage(torch.full((64, 1, 60, 60), FILL))
    for m in erased(RandomErasing(p=1.0, sl=0.1, sh=0.2, min_aspect=0.5), x):
        rows, cols = torch.nonzero(m, as_tuple=True)
        h, w = (rows.max() - rows.min() + 1).item(), (cols.max() - cols.min() + 1).item()
        assert 0.5 * 0.8 <= h / w <= 2.0 * 1.25  # rounding of the sides


def test_max_count_spreads_the_area_over_several_rectangles():
    torch.manual_seed(2)
    x = TensorImage(torch.full((64, 1, 40, 40), FILL))
    changed = erased(RandomErasing(p=1.0, sl=0.2, sh=0.2, max_count=4), x)
    areas = changed.sum((1, 2)).float()
    assert (areas <= 0.2 * 1600 + 40).all()
    not_one_rectangle = 0
    for m in changed:
        rows, cols = torch.nonzero(m, as_tuple=True)
        not_one_rectangle += int((rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1) > m.sum())
    assert not_one_rectangle > 10


def test_per_image_probability_and_fill_statistics():
    torch.manual_seed(3)
    x = TensorImage(torch.full((400, 1, 16, 16), FILL))
    tfm = RandomErasing(p=0.5, sl=0.2, sh=0.3)
    y = tfm(x, split_idx=TRAIN).as_subclass(torch.Tensor)
    hit = (y != FILL).flatten(1).any(1)
    assert 0.42 < hit.float().mean().item() < 0.58
    noise = y[y != FILL]
    assert abs(noise.mean().item()) < 0.05 and abs(noise.std().item() - 1) < 0.05


def test_masks_untouched_and_validation_untouched():
    x = TensorImage(torch.zeros(2, 3, 8, 8))
    mask = TensorMask(torch.ones(2, 8, 8, dtype=torch.long))
    y, m = RandomErasing(p=1.0, sl=0.5, sh=0.5)((x, mask), split_idx=TRAIN)
    assert m is mask and not torch.equal(y, x)
    b = (x, mask)
    assert RandomErasing(p=1.0)(b, split_idx=1) is b
    assert RandomErasing.order == 100  # after Normalize


def test_seeded_generator_repeats():
    x = TensorImage(torch.zeros(4, 3, 8, 8))
    a = RandomErasing(p=1.0, generator=torch.Generator().manual_seed(5))(x, split_idx=TRAIN)
    b = RandomErasing(p=1.0, generator=torch.Generator().manual_seed(5))(x, split_idx=TRAIN)
    assert torch.equal(a, b)


def test_bad_arguments():
    with pytest.raises(ValueError, match="sl"):
        RandomErasing(sl=0.5, sh=0.2)
    with pytest.raises(ValueError, match="max_count"):
        RandomErasing(max_count=0)
    with pytest.raises(TypeError, match="Normalize"):
        RandomErasing(p=1.0)(TensorImage(torch.zeros(2, 3, 4, 4, dtype=torch.uint8)), split_idx=TRAIN)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_erasing_stays_on_device():
    x = TensorImage(torch.full((8, 3, 16, 16), FILL, device="cuda"))
    y = RandomErasing(p=1.0, sl=0.1, sh=0.2)(x, split_idx=TRAIN)
    assert y.device.type == "cuda" and (y != FILL).any()
