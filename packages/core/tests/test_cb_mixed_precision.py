"""MixedPrecision: bf16/fp16 autocast around the forward pass, fp16 loss scaling with skipped overflow
steps, the learn.to_fp16/to_bf16/to_fp32 switches, and no autocast left behind."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import TensorDataset

from lamina.core.callbacks.mixed_precision import MixedPrecision
from lamina.core.data.loaders import DataLoaders
from lamina.core.learner.callback import Callback
from lamina.core.learner.learner import Learner
from lamina.core.optim.optimizers import SGD

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def regression_dls(n=64, bs=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    y = x @ torch.linspace(-1, 1, 8).unsqueeze(1) + 0.5
    train = TorchDataLoader(TensorDataset(x, y), batch_size=bs)
    valid = TorchDataLoader(TensorDataset(x[:32], y[:32]), batch_size=bs)
    return DataLoaders(train, valid)


class DtypeProbe:
    """Forward hook on a layer: records the dtype of its output."""

    def __init__(self, layer):
        self.dtypes = []
        self.handle = layer.register_forward_hook(lambda m, i, o: self.dtypes.append(o.dtype))


class PredLog(Callback):
    order = 20

    def __init__(self):
        self.pred_dtypes, self.losses = [], []

    def after_loss(self):
        self.pred_dtypes.append(self.pred.dtype)
        self.losses.append(self.loss.detach().clone())


def linear_learner(cbs, lr=0.05, **kwargs):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    return Learner(regression_dls(), model, loss_func=F.mse_loss, lr=lr, cbs=cbs, default_cbs=False, **kwargs)


def test_bf16_autocast_on_cpu_runs_layers_in_bf16_and_the_loss_stays_finite():
    log = PredLog()
    learn = linear_learner([MixedPrecision("bf16"), log], opt_func=SGD)
    probe = DtypeProbe(learn.model[0])
    learn.fit(3)
    assert probe.dtypes and set(probe.dtypes) == {torch.bfloat16}  # training and validation batches
    assert set(log.pred_dtypes) == {torch.float32}  # cast back in after_pred
    losses = torch.stack(log.losses)
    assert torch.isfinite(losses).all()
    assert learn.mixed_precision.scaler is None  # bf16: no loss scaling
    first_epoch, last_epoch = losses[:4].mean(), losses[-6:-2].mean()  # 4 train batches, 2 valid per epoch
    assert last_epoch < first_epoch


def test_no_autocast_and_no_hook_left_after_the_fit():
    learn = linear_learner(MixedPrecision("bf16"))
    learn.fit(1)
    assert not torch.is_autocast_enabled("cpu")
    assert learn.model(torch.randn(2, 8)).dtype == torch.float32


def test_autocast_is_switched_off_when_the_forward_raises():
    class Failing(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8, 1)

        def forward(self, x):
            raise RuntimeError("boom")

    learn = Learner(
        regression_dls(), Failing(), loss_func=F.mse_loss, cbs=MixedPrecision("bf16"), default_cbs=False
    )
    with pytest.raises(RuntimeError, match="boom"):
        learn.fit(1)
    assert not torch.is_autocast_enabled("cpu")
    with torch.no_grad():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_fp16_scales_the_backward_loss_but_records_and_steps_with_true_values():
    """With exactly representable numbers, one fp16 SGD step equals the fp32 step: the gradients were
    unscaled before the step, and the recorded loss is not multiplied by the scale."""
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 1.0], [2.0, 0.0]])
    y = torch.tensor([[1.0], [2.0], [0.0], [1.0]])
    dls = DataLoaders(TorchDataLoader(TensorDataset(x, y), batch_size=4), [])

    def run(cbs):
        model = nn.Linear(2, 1)
        with torch.no_grad():
            model.weight.copy_(torch.tensor([[0.5, -0.25]]))
            model.bias.fill_(0.125)
        log = PredLog()
        learn = Learner(
            dls, model, loss_func=F.mse_loss, opt_func=SGD, lr=0.0625, cbs=[*cbs, log], default_cbs=False
        )
        learn.fit(1)
        return model, log.losses[0], learn

    ref_model, ref_loss, _ = run([])
    model, loss, learn = run([MixedPrecision("fp16")])
    assert learn.mixed_precision.scale == 2.0**16  # unchanged: no overflow, growth needs 2000 steps
    assert loss.item() == ref_loss.item()
    assert torch.equal(model.weight, ref_model.weight) and torch.equal(model.bias, ref_model.bias)


def test_fp16_skips_steps_whose_scaled_gradients_overflow_and_backs_off_the_scale():
    learn = linear_learner(MixedPrecision("fp16", init_scale=2.0**60), opt_func=SGD)
    before = [p.detach().clone() for p in learn.model.parameters()]
    learn.fit(1)  # 4 training batches, every one overflows in fp16 at such a scale
    mp = learn.mixed_precision
    assert mp.skipped == 4
    assert mp.scale == 2.0**56
    assert all(torch.equal(a, b) for a, b in zip(before, learn.model.parameters()))


def test_fp16_trains_on_cpu():
    log = PredLog()
    learn = linear_learner([MixedPrecision("fp16"), log])
    learn.fit(4)
    losses = torch.stack(log.losses)
    assert torch.isfinite(losses).all()
    assert learn.mixed_precision.skipped < 4  # the first step may overflow at 2**16 and back off; not all
    assert losses[-6:-2].mean() < losses[:4].mean()


def test_get_preds_runs_under_autocast_and_returns_float32():
    learn = linear_learner(MixedPrecision("bf16"))
    probe = DtypeProbe(learn.model[2])
    preds, targets = learn.get_preds()
    assert preds.dtype == torch.float32 and preds.shape == (32, 1)
    assert set(probe.dtypes) == {torch.bfloat16}


def test_switches_add_replace_and_remove_the_callback():
    learn = linear_learner(None)
    assert learn.to_fp16() is learn
    assert [type(cb) for cb in learn.cbs].count(MixedPrecision) == 1
    assert learn.mixed_precision.dtype == torch.float16
    learn.to_bf16()
    assert [type(cb) for cb in learn.cbs].count(MixedPrecision) == 1
    assert learn.mixed_precision.dtype == torch.bfloat16
    learn.to_fp32()
    assert not any(isinstance(cb, MixedPrecision) for cb in learn.cbs)
    learn.to_fp16(init_scale=1024.0)
    assert learn.mixed_precision.scaler_kwargs["init_scale"] == 1024.0


@pytest.mark.parametrize("mode", ["fp8", "float16", torch.float32, 16])
def test_bad_mode_is_a_clear_error(mode):
    with pytest.raises(ValueError, match="amp_mode must be"):
        MixedPrecision(mode)


def test_modes_by_name_or_dtype():
    assert MixedPrecision("BF16").dtype == torch.bfloat16
    assert MixedPrecision(torch.float16).amp_mode == "fp16"


@cuda
@pytest.mark.parametrize("mode", ["fp16", "bf16"])
def test_mixed_precision_on_cuda(mode):
    dls = regression_dls()
    dls.device = "cuda"
    log = PredLog()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    learn = Learner(dls, model, loss_func=F.mse_loss, cbs=[MixedPrecision(mode), log], default_cbs=False)
    probe = DtypeProbe(model[0])
    learn.fit(3)
    assert set(probe.dtypes) == {MixedPrecision(mode).dtype}
    losses = torch.stack(log.losses).cpu()
    assert torch.isfinite(losses).all() and losses[-6:-2].mean() < losses[:4].mean()
