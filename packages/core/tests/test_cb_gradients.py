"""GradientAccumulation (exactly one bigger batch) and GradientClip (norm bounded, after fp16 unscaling)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import TensorDataset

from lamina.core.callbacks.gradients import GradientAccumulation, GradientClip, batch_size_of
from lamina.core.callbacks.mixed_precision import MixedPrecision
from lamina.core.data.loaders import DataLoaders
from lamina.core.learner.callback import Callback
from lamina.core.learner.learner import Learner
from lamina.core.optim.optimizers import SGD, Adam


def dls_of(x, y, bs):
    return DataLoaders(TorchDataLoader(TensorDataset(x, y), batch_size=bs), [])


def integer_data(n=16):
    """Small integers: every sum and product in the gradients is exact in float32."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(-3, 4, (n, 2), generator=g).float()
    y = torch.randint(-3, 4, (n, 1), generator=g).float()
    return x, y


def fixed_linear():
    model = nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.5, -0.25]]))
        model.bias.fill_(0.125)
    return model


class LossLog(Callback):
    order = 100

    def __init__(self):
        self.losses, self.batches = [], []

    def after_batch(self):
        if self.training:
            self.losses.append(self.loss.detach().clone())
            self.batches.append((self.xb[0].clone(), self.yb[0].clone()))


def fit_linear(bs, cbs=(), n_epoch=1, data=None):
    x, y = integer_data() if data is None else data
    model = fixed_linear()
    log = LossLog()
    learn = Learner(
        dls_of(x, y, bs),
        model,
        loss_func=F.mse_loss,
        opt_func=SGD,
        lr=2.0**-5,
        cbs=[*cbs, log],
        default_cbs=False,
    )
    learn.fit(n_epoch)
    return learn, log


def test_accumulating_small_batches_equals_one_bigger_batch_exactly():
    big, _ = fit_linear(bs=8)  # 2 steps on 16 samples
    small, _ = fit_linear(bs=2, cbs=[GradientAccumulation(n_acc=8)])  # 8 batches, a step every 4
    assert small.gradient_accumulation.steps == 2
    for p_small, p_big in zip(small.model.parameters(), big.model.parameters()):
        assert torch.equal(p_small, p_big)
    # and they differ from plain small-batch training, which steps 8 times
    plain, _ = fit_linear(bs=2)
    assert not torch.equal(plain.model.weight, big.model.weight)


def test_accumulation_matches_a_bigger_batch_on_a_real_model():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(96, 10, generator=g), torch.randn(96, 1, generator=g)

    def run(bs, cbs):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 1))
        learn = Learner(
            dls_of(x, y, bs), model, loss_func=F.mse_loss, opt_func=Adam, lr=1e-2, cbs=cbs, default_cbs=False
        )
        learn.fit(2)
        return model

    big = run(32, [])
    small = run(8, [GradientAccumulation(n_acc=32)])
    for a, b in zip(small.parameters(), big.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_the_recorded_loss_is_the_true_batch_loss():
    learn, log = fit_linear(bs=2, cbs=[GradientAccumulation(n_acc=8)])
    assert len(log.losses) == 8
    # the loss of batch k, recomputed from the weights of its time: before the first step for batches 0-3
    model = fixed_linear()
    for loss, (xb, yb) in zip(log.losses[:4], log.batches[:4]):
        assert loss.item() == F.mse_loss(model(xb), yb).item()


def test_an_unfinished_accumulation_is_dropped_at_the_end_of_the_fit():
    x, y = integer_data(12)
    learn, _ = fit_linear(bs=2, cbs=[GradientAccumulation(n_acc=8)], data=(x, y))
    assert learn.gradient_accumulation.steps == 1  # 8 samples stepped, 4 left over
    assert all(p.grad is None for p in learn.model.parameters())


def test_accumulation_counts_samples_across_uneven_batches():
    x, y = integer_data(10)
    learn, _ = fit_linear(bs=4, cbs=[GradientAccumulation(n_acc=6)], data=(x, y))  # batches 4, 4, 2
    assert learn.gradient_accumulation.steps == 1  # after 8 samples; the last 2 are dropped


@pytest.mark.parametrize("n_acc", [0, -3, 2.5, True])
def test_bad_n_acc(n_acc):
    with pytest.raises(ValueError, match="n_acc"):
        GradientAccumulation(n_acc)


class GradNorm(Callback):
    """Total gradient norm right before the optimizer step (after any clipping)."""

    order = 50

    def __init__(self):
        self.norms = []

    def before_step(self):
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        self.norms.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))


def test_gradient_clip_bounds_the_norm_and_scales_the_step():
    x = torch.full((4, 2), 10.0)
    y = torch.full((4, 1), -50.0)
    data = (x, y)
    norms = GradNorm()
    learn, _ = fit_linear(bs=4, cbs=[GradientClip(max_norm=1.0), norms], data=data)
    assert norms.norms[0].item() == pytest.approx(1.0, rel=1e-5)
    # the same step by hand: w - lr * g * max_norm / |g|
    model = fixed_linear()
    F.mse_loss(model(x), y).backward()
    grads = [p.grad for p in model.parameters()]
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    assert learn.gradient_clip.last_norm.item() == pytest.approx(total.item(), rel=1e-6)
    for p, g in zip(
        learn.model.parameters(), [p.detach() - 2.0**-5 * p.grad / total for p in model.parameters()]
    ):
        torch.testing.assert_close(p.detach(), g)


def test_gradient_clip_leaves_small_gradients_alone():
    clipped, _ = fit_linear(bs=4, cbs=[GradientClip(max_norm=1e6)])
    plain, _ = fit_linear(bs=4)
    for a, b in zip(clipped.model.parameters(), plain.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=0)


def test_gradient_clip_runs_on_unscaled_fp16_gradients():
    x = torch.full((4, 2), 1.0)
    y = torch.full((4, 1), -5.0)
    norms = GradNorm()
    mp = MixedPrecision("fp16", init_scale=256.0)
    fit_linear(bs=4, cbs=[mp, GradientClip(max_norm=0.1), norms], data=(x, y))
    assert mp.skipped == 0
    assert norms.norms[0].item() == pytest.approx(0.1, rel=1e-3)  # clipping before unscaling: 0.1 / 256


def test_gradient_clip_with_accumulation_clips_only_the_accumulated_gradient():
    norms = GradNorm()
    learn, _ = fit_linear(bs=2, cbs=[GradientAccumulation(n_acc=8), GradientClip(max_norm=0.5), norms])
    assert len(norms.norms) == 2  # once per real step
    assert all(n.item() <= 0.5 + 1e-6 for n in norms.norms)


def test_bad_max_norm():
    with pytest.raises(ValueError, match="max_norm"):
        GradientClip(max_norm=0)


def test_batch_size_of():
    assert batch_size_of((torch.zeros(5, 3), torch.zeros(5))) == 5
    assert batch_size_of({"a": torch.zeros(7, 2)}) == 7
    with pytest.raises(TypeError, match="batch size"):
        batch_size_of("text")
