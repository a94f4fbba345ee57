"""Learner: construction, devices, fitting, freezing, discriminative lrs, validate, get_preds, save/load."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import TensorDataset

from lamina.core.data.load import DataLoader
from lamina.core.data.loaders import DataLoaders
from lamina.core.learner.callback import Callback
from lamina.core.learner.learner import Learner
from lamina.core.learner.params import norm_bias_params, trainable_params
from lamina.core.learner.synth import RegModel, synth_dls, synth_learner
from lamina.core.metrics import accuracy, mae
from lamina.core.optim.optimizers import SGD, Adam
from lamina.core.tensors import TensorBase


class TwoLayer(nn.Module):
    """body (Linear + BatchNorm) and head, split into two parameter groups by `two_groups`."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(1, 8), nn.BatchNorm1d(8), nn.ReLU())
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        return self.head(self.body(x))


def two_groups(model):
    return [list(model.body.parameters()), list(model.head.parameters())]


def quiet(learn):
    learn.logger = lambda *a: None
    return learn


# --- construction ---------------------------------------------------------------------------------
def test_loss_defaults_to_the_data_and_its_absence_is_explained():
    dls = synth_dls()
    with pytest.raises(ValueError, match="pass `loss_func=`"):
        Learner(dls, RegModel())
    dls.loss_func = F.l1_loss
    assert Learner(dls, RegModel()).loss_func is F.l1_loss


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"model": "not a model"}, "torch.nn.Module"),
        ({"dls": [1, 2]}, "DataLoaders"),
        ({"loss_func": 3}, "loss_func must be callable"),
        ({"opt_func": None}, "opt_func must be callable"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    args = {"dls": synth_dls(), "model": RegModel(), "loss_func": F.mse_loss, **kwargs}
    with pytest.raises((TypeError, ValueError), match=match):
        Learner(**args)


def test_optimizer_is_created_lazily_from_the_splitter():
    learn = quiet(synth_learner(opt_func=SGD, lr=0.5))
    assert learn.opt is None
    learn.create_opt()
    assert [len(g) for g in learn.opt.param_lists] == [2] and learn.opt.hypers[0]["lr"] == 0.5
    model = TwoLayer()
    learn = Learner(synth_dls(), model, F.mse_loss, splitter=two_groups)
    learn.create_opt()
    assert [len(g) for g in learn.opt.param_lists] == [4, 2]
    assert trainable_params(model) == list(model.parameters())


# --- fitting ------------------------------------------------------------------------------------------
def test_fit_learns_the_synthetic_line():
    learn = quiet(synth_learner(lr=0.1))
    learn.fit(6)
    a, b = learn.model.a.item(), learn.model.b.item()
    assert abs(a - 2) < 0.2 and abs(b - 3) < 0.2
    losses = [row[1] for row in learn.recorder.values]
    assert losses[-1] < losses[0] / 10


def test_fit_sets_lr_and_wd_and_reset_opt_starts_over():
    learn = quiet(synth_learner(lr=0.05, wd=0.2))
    learn.fit(1)
    assert learn.opt.hypers[0]["lr"] == 0.05 and learn.opt.hypers[0]["wd"] == 0.2
    learn.fit(1, lr=0.01, wd=0.0)
    assert learn.opt.hypers[0]["lr"] == 0.01 and learn.opt.hypers[0]["wd"] == 0.0
    opt = learn.opt
    learn.fit(1)
    assert learn.opt is opt and opt.state[learn.model.a]  # Adam state kept between fits
    learn.fit(1, reset_opt=True)
    assert learn.opt is not opt


def test_discriminative_lr_slice_spreads_over_groups():
    learn = quiet(Learner(synth_dls(), TwoLayer(), F.mse_loss, splitter=two_groups))
    learn.fit(1, lr=slice(1e-4, 1e-2))
    assert [h["lr"] for h in learn.opt.hypers] == pytest.approx([1e-4, 1e-2])


def test_batches_reach_the_model_as_plain_tensors_on_its_device():
    seen = []

    class Model(RegModel):
        def forward(self, x):
            seen.append((type(x), x.device))
            return super().forward(x)

    x = torch.randn(32, 1).as_subclass(TensorBase)
    y = (2 * x + 3).as_subclass(TensorBase)
    dl = TorchDataLoader(TensorDataset(x, y), batch_size=16)
    assert type(next(iter(dl))[0]) is TensorBase
    learn = quiet(Learner(DataLoaders(dl, dl), Model(), F.mse_loss))
    learn.fit(1)
    assert seen and all(t is torch.Tensor and d == torch.device("cpu") for t, d in seen)


def test_a_batch_already_on_the_device_is_not_copied():
    x, y = torch.randn(16, 1), torch.randn(16, 1)
    learn = quiet(synth_learner())
    learn.one_batch(0, (x, y))
    assert learn.xb[0] is x and learn.yb[0] is y


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_model_and_batches_follow_dls_device_on_gpu():
    dls = synth_dls()
    dls.device = "cuda"
    seen = []

    class Spy(Callback):
        def after_pred(self):
            seen.append((self.xb[0].device.type, self.pred.device.type))

    learn = quiet(Learner(dls, RegModel(), F.mse_loss, cbs=Spy()))
    learn.fit(1)
    assert next(learn.model.parameters()).device.type == "cuda"
    assert seen and all(s == ("cuda", "cuda") for s in seen)


def test_n_inp_splits_inputs_from_targets():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 1)

        def forward(self, a, b):
            return self.lin(torch.cat([a, b], 1))

    a, b = torch.randn(32, 1), torch.randn(32, 1)
    y = a + b
    dl = DataLoader(TensorDataset(a, b, y), bs=16)
    dl.n_inp = 2
    learn = quiet(Learner(DataLoaders(dl, dl), TwoInputs(), F.mse_loss))
    learn.fit(1)
    assert len(learn.recorder.values) == 1
    learn.one_batch(0, (a[:4], b[:4], y[:4]))
    assert len(learn.xb) == 2 and len(learn.yb) == 1


def test_our_dataloader_in_dataloaders_trains():
    x = torch.randn(64, 1)
    y = 2 * x + 3
    dls = DataLoaders.from_dsets(TensorDataset(x[:48], y[:48]), TensorDataset(x[48:], y[48:]), bs=16)
    learn = quiet(Learner(dls, RegModel(), F.mse_loss, lr=0.1))
    learn.fit(3)
    assert learn.recorder.values[-1][1] < learn.recorder.values[0][1]


def test_no_validation_loader_is_fine():
    train = synth_dls().train
    learn = quiet(Learner(DataLoaders(train), RegModel(), F.mse_loss, metrics=mae))
    learn.fit(2)
    assert [row[1:] for row in learn.recorder.values] == [[None, None], [None, None]]


# --- errors from the loop name the step --------------------------------------------------------------
def test_model_errors_name_the_step_and_shapes():
    learn = quiet(Learner(synth_dls(), nn.Linear(3, 1), F.mse_loss))
    with pytest.raises(RuntimeError) as info:
        learn.fit(1)
    note = " ".join(info.value.__notes__)
    assert "model forward" in note and "training batch 0" in note and "tensor(16, 1)" in note


def test_loss_errors_name_the_step_and_shapes():
    learn = quiet(synth_learner(loss_func=F.nll_loss))
    with pytest.raises(RuntimeError) as info:
        learn.fit(1)
    assert any("loss_func" in n and "pred=tensor(16, 1)" in n for n in info.value.__notes__)


def test_non_scalar_loss_is_explained_at_backward():
    learn = quiet(synth_learner(loss_func=lambda p, y: (p - y) ** 2))
    with pytest.raises(RuntimeError) as info:
        learn.fit(1)
    assert any("must be a scalar" in n for n in info.value.__notes__)


def test_a_dict_batch_is_refused_clearly():
    learn = quiet(synth_learner())
    with pytest.raises(TypeError, match="batch 0 is a dict"):
        learn.one_batch(0, {"x": torch.zeros(2, 1)})


def test_fit_checks_its_arguments():
    learn = quiet(synth_learner())
    with pytest.raises(ValueError, match="n_epoch"):
        learn.fit(1.5)
    with pytest.raises(ValueError, match="start_epoch"):
        learn.fit(2, start_epoch=3)


def test_empty_training_loader_is_a_clear_error():
    empty = TorchDataLoader(TensorDataset(torch.zeros(0, 1), torch.zeros(0, 1)), batch_size=4)
    learn = quiet(Learner(DataLoaders(empty, empty), RegModel(), F.mse_loss))
    with pytest.raises(ValueError, match="yields no batches"):
        learn.fit(1)


# --- freezing ----------------------------------------------------------------------------------------
def test_freeze_keeps_batchnorm_trainable_and_unfreeze_restores():
    model = TwoLayer()
    learn = quiet(Learner(synth_dls(), model, F.mse_loss, splitter=two_groups))
    learn.freeze()
    lin, bn = model.body[0], model.body[1]
    assert not lin.weight.requires_grad and not lin.bias.requires_grad
    assert bn.weight.requires_grad and bn.bias.requires_grad
    assert all(p.requires_grad for p in model.head.parameters())
    frozen_w, bn_w = lin.weight.detach().clone(), bn.weight.detach().clone()
    learn.fit(1)
    assert torch.equal(lin.weight, frozen_w) and not torch.equal(bn.weight, bn_w)
    learn.unfreeze()
    assert all(p.requires_grad for p in model.parameters())


def test_train_bn_false_freezes_batchnorm_too():
    model = TwoLayer()
    learn = quiet(Learner(synth_dls(), model, F.mse_loss, splitter=two_groups, train_bn=False))
    learn.freeze()
    assert not any(p.requires_grad for p in model.body.parameters())


def test_no_weight_decay_on_norm_and_bias_unless_asked():
    model = TwoLayer()
    learn = Learner(synth_dls(), model, F.mse_loss, splitter=two_groups)
    learn.create_opt()
    exempt = {id(p) for p in norm_bias_params(model)}
    assert exempt == {
        id(model.body[0].bias),
        id(model.body[1].weight),
        id(model.body[1].bias),
        id(model.head.bias),
    }
    for p in model.parameters():
        assert (learn.opt.state[p].get("do_wd", True) is False) == (id(p) in exempt)
    learn = Learner(synth_dls(), TwoLayer(), F.mse_loss, wd_bn_bias=True)
    learn.create_opt()
    assert not any("do_wd" in learn.opt.state[p] for p in learn.model.parameters())


# --- validate and get_preds ----------------------------------------------------------------------------
def test_validate_matches_a_hand_computed_loss_and_metric():
    learn = quiet(synth_learner(metrics=mae))
    learn.fit(1)
    valid_loss, valid_mae = learn.validate()
    x, y = learn.dls.valid.dataset.tensors
    with torch.no_grad():
        pred = learn.model(x)
    assert valid_loss == pytest.approx(F.mse_loss(pred, y).item(), rel=1e-5)
    assert valid_mae == pytest.approx((pred - y).abs().mean().item(), rel=1e-5)
    train_loss, train_mae = learn.validate(ds_idx=0)
    x, y = learn.dls.train.dataset.tensors
    assert train_loss == pytest.approx(F.mse_loss(learn.model(x), y).item(), rel=1e-5)


def test_get_preds_in_dataset_order_with_inputs_and_losses():
    learn = quiet(synth_learner(n_train=64))
    learn.fit(1)
    x, y = learn.dls.train.dataset.tensors
    inp, preds, targs, losses = learn.get_preds(ds_idx=0, with_input=True, with_loss=True)
    with torch.no_grad():
        expected = learn.model(x)
    torch.testing.assert_close(inp, x)  # the train loader shuffles: reorder gives dataset order
    torch.testing.assert_close(preds, expected)
    torch.testing.assert_close(targs, y)
    torch.testing.assert_close(losses, F.mse_loss(expected, y, reduction="none"))
    assert learn.loss_func is F.mse_loss  # restored after with_loss


def test_get_preds_reorders_our_shuffled_dataloader():
    x = torch.arange(40.0).reshape(40, 1)
    dl = DataLoader(TensorDataset(x, 2 * x), bs=8, shuffle=True, drop_last=True)
    learn = quiet(Learner(DataLoaders(dl, dl), RegModel(), F.mse_loss))
    inp, _, targs = learn.get_preds(ds_idx=0, with_input=True)
    torch.testing.assert_close(inp, x)  # all 40 items, in dataset order (no drop_last either)
    torch.testing.assert_close(targs, 2 * x)
    inp, *_ = learn.get_preds(ds_idx=0, with_input=True, reorder=False)
    assert len(inp) == 40 - 40 % 8 and not torch.equal(inp, x)


def test_a_failing_metric_is_named():
    def broken(pred, targ):
        raise ValueError("bad metric")

    learn = quiet(synth_learner(metrics=broken))
    with pytest.raises(ValueError, match="bad metric") as info:
        learn.fit(1)
    assert any("metric 'broken' on validation batch 0" in n for n in info.value.__notes__)


def test_get_preds_applies_the_loss_activation_or_act():
    class LossWithActivation(nn.Module):
        def forward(self, pred, targ):
            return F.mse_loss(pred, targ)

        def activation(self, x):
            return x * 0 + 7

        def decodes(self, x):
            return x + 1

    learn = quiet(synth_learner(loss_func=LossWithActivation()))
    preds, _, decoded = learn.get_preds(with_decoded=True)
    assert torch.all(preds == 7) and torch.all(decoded == 8)
    preds, _ = learn.get_preds(act=torch.sigmoid)
    assert torch.all((preds > 0) & (preds < 1))


def test_get_preds_with_loss_needs_per_item_losses():
    learn = quiet(synth_learner(loss_func=lambda p, y: F.mse_loss(p, y)))
    with pytest.raises(TypeError, match="reduction"):
        learn.get_preds(with_loss=True)
    learn = quiet(synth_learner(loss_func=nn.MSELoss()))
    *_, losses = learn.get_preds(with_loss=True)
    assert losses.shape == (32, 1) and learn.loss_func.reduction == "mean"


def test_get_preds_on_unlabelled_data():
    learn = quiet(synth_learner())
    dl = TorchDataLoader(torch.randn(10, 1), batch_size=4)
    preds, targs = learn.get_preds(dl=dl)
    assert preds.shape == (10, 1) and targs is None


def test_validate_inside_a_fit_keeps_the_loop_state():
    inner = []

    class ValidateMidEpoch(Callback):
        def after_batch(self):
            if self.training and self.iter == 0:
                inner.append(self.learn.validate())
                assert self.training and self.model.training and self.dl is self.learn.dls.train

    learn = quiet(synth_learner(cbs=ValidateMidEpoch()))
    learn.fit(2)
    assert len(inner) == 2 and len(learn.recorder.values) == 2 and learn.recorder.losses


# --- save and load ---------------------------------------------------------------------------------------
def test_save_and_load_round_trip_model_and_optimizer(tmp_path):
    learn = quiet(synth_learner(path=tmp_path))
    learn.fit(1)
    file = learn.save("stage1")
    assert file == tmp_path / "models" / "stage1.pth"
    assert set(torch.load(file, weights_only=True)) == {"model", "opt"}
    a = learn.model.a.detach().clone()
    avg = learn.opt.state[learn.model.a]["grad_avg"].clone()
    learn.fit(1)
    assert not torch.equal(learn.model.a, a)
    learn.load("stage1")
    assert torch.equal(learn.model.a, a)
    torch.testing.assert_close(learn.opt.state[learn.model.a]["grad_avg"], avg)
    fresh = quiet(synth_learner(path=tmp_path)).load("stage1")
    assert torch.equal(fresh.model.a, a) and fresh.opt is not None


def test_load_errors_and_model_only_files(tmp_path):
    learn = quiet(synth_learner(path=tmp_path))
    with pytest.raises(FileNotFoundError, match="nothing.pth"):
        learn.load("nothing")
    learn.save("weights", with_opt=False)
    with pytest.warns(UserWarning, match="no optimizer state"):
        learn.load("weights")
    torch.save({"something": 1}, tmp_path / "models" / "odd.pth")
    with pytest.raises(ValueError, match="not a file written by Learner.save"):
        learn.load("odd")


# --- the paper's "adapting PyTorch code" example on synthetic data (real data: test_learner_mnist) -------
def test_plain_pytorch_pieces_work_as_written():
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 32)
            self.fc2 = nn.Linear(32, 3)

        def forward(self, x):
            return F.log_softmax(self.fc2(F.relu(self.fc1(x))), dim=1)

    g = torch.Generator().manual_seed(0)
    x = torch.randn(1000, 4, generator=g)
    y = x[:, :3].argmax(1)
    train_loader = TorchDataLoader(TensorDataset(x[:800], y[:800]), batch_size=64, shuffle=True)
    test_loader = TorchDataLoader(TensorDataset(x[800:], y[800:]), batch_size=100)

    data = DataLoaders(train_loader, test_loader)
    learn = Learner(data, Net(), loss_func=F.nll_loss, opt_func=Adam, metrics=accuracy)
    learn.logger = lambda *a: None
    learn.fit_one_cycle(8, 2e-2)
    assert learn.recorder.values[-1][2] > 0.95
