"""RandTransform: one draw per call shared by the whole batch, p per call, training only; draw helpers."""

import pytest
import torch

from lamina.core.pipeline import Pipeline
from lamina.vision.augment import RandTransform
from lamina.vision.augment.rand import rand_log_uniform, rand_mask, rand_uniform, resolve_draw


class AddNoise(RandTransform):
    """Adds one random number, drawn per call, to every tensor of the batch."""

    def before_call(self, b, split_idx):
        super().before_call(b, split_idx)
        self.value = torch.rand((), generator=self.generator).item()

    def encodes(self, x: torch.Tensor):
        return x + self.value


def test_one_draw_per_call_is_shared_by_every_part_of_the_batch():
    tfm = AddNoise()
    a, b = tfm((torch.zeros(2), torch.zeros(3)), split_idx=0)
    assert a[0].item() == b[0].item() == tfm.value
    c, _ = tfm((torch.zeros(2), torch.zeros(3)), split_idx=0)
    assert c[0].item() != a[0].item()


def test_training_only_by_default_and_validation_draws_nothing():
    tfm = AddNoise()
    x = torch.zeros(2)
    assert tfm(x, split_idx=1) is x and tfm(x) is x and not hasattr(tfm, "value")
    assert Pipeline([tfm], split_idx=1)(x) is x
    assert torch.all(Pipeline([tfm], split_idx=0)(x) > 0)
    every_split = AddNoise()
    every_split.split_idx = None  # a transform can opt into every split
    assert torch.all(every_split(x, split_idx=1) > 0) and torch.all(every_split(x) > 0)


def test_p_is_one_coin_per_call():
    torch.manual_seed(0)
    tfm = AddNoise(p=0.3)
    changed = [tfm(torch.zeros(1), split_idx=0).item() != 0 for _ in range(500)]
    assert 0.24 < sum(changed) / 500 < 0.36
    assert all(AddNoise(p=0.0)(torch.zeros(1), split_idx=0).item() == 0 for _ in range(20))


def test_before_call_argument_replaces_the_method():
    seen = []

    def record(b, split_idx):
        seen.append((b.shape, split_idx))

    tfm = RandTransform(before_call=record, enc=lambda x: x * 2)
    assert tfm(torch.ones(3), split_idx=0).tolist() == [2.0, 2.0, 2.0]
    assert seen == [(torch.Size([3]), 0)]


def test_repr_shows_the_settings():
    assert repr(AddNoise(p=0.3)).startswith("AddNoise -- {'p': 0.3}")


def test_generator_makes_draws_repeat():
    outs = [
        AddNoise(generator=torch.Generator().manual_seed(9))(torch.zeros(1), split_idx=0) for _ in range(2)
    ]
    assert torch.equal(outs[0], outs[1])


def test_draw_helpers():
    torch.manual_seed(0)
    x = torch.zeros(1000, 3)
    u = rand_uniform(x, 2.0, 4.0)
    assert u.shape == (1000,) and u.min() >= 2 and u.max() < 4 and abs(u.mean().item() - 3) < 0.1
    lu = rand_log_uniform(x, 0.5, 2.0)
    assert lu.min() >= 0.5 and lu.max() < 2.0 and abs(lu.log().mean().item()) < 0.1
    assert 0.2 < rand_mask(x, 0.25).float().mean().item() < 0.3
    shared = rand_uniform(x, 0.0, 1.0, batch=True)
    assert torch.all(shared == shared[0])
    assert resolve_draw(0.3, x[:4], lambda: None).tolist() == pytest.approx([0.3] * 4)
    assert resolve_draw([1, 2, 3, 4], x[:4], lambda: None).tolist() == [1, 2, 3, 4]
    assert resolve_draw(lambda b: b.shape[0] * torch.ones(4), x[:4], lambda: None).tolist() == [4] * 4


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="p must be between 0 and 1"):
        AddNoise(p=1.5)
    with pytest.raises(TypeError, match="generator"):
        AddNoise(generator=3)
    with pytest.raises(ValueError, match="4 values"):
        resolve_draw([1.0, 2.0], torch.zeros(4), lambda: None, name="Rotate(draw=...)")
    with pytest.raises(TypeError, match="Rotate\\(draw=...\\)"):
        resolve_draw("a", torch.zeros(4), lambda: None, name="Rotate(draw=...)")
    with pytest.raises(ValueError, match="positive"):
        rand_log_uniform(torch.zeros(2), 0.0, 1.0)
