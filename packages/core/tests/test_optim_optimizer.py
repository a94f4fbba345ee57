"""The generic Optimizer: parameter groups, hyper-parameters, freezing, flags, state dicts, bad input."""

import io
import math
import warnings
from functools import partial

import numpy as np
import pytest
import torch
from torch import nn

from lamina.core.optim.batch import ParamBatch
from lamina.core.optim.hyper_defaults import declare_defaults
from lamina.core.optim.lookahead import Lookahead
from lamina.core.optim.optimizer import Optimizer
from lamina.core.optim.optimizers import SGD, Adam, Lamb, Larc, QHAdam, RAdam, RMSProp
from lamina.core.optim.stats import average_grad
from lamina.core.optim.steppers import momentum_step, sgd_step, weight_decay


def three_layers() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 4), nn.Linear(4, 2))


def layer_groups(model: nn.Module) -> list[list[torch.Tensor]]:
    return [list(m.parameters()) for m in model]


def fill_grads(params, value=1.0):
    for p in params:
        p.grad = torch.full_like(p, value)


def snapshot(params):
    return [p.detach().clone() for p in params]


# ---- parameter groups -------------------------------------------------------------------------


def test_params_as_one_iterable_lists_or_dicts():
    model = three_layers()
    assert len(SGD(model.parameters(), lr=0.1).param_lists) == 1
    opt = SGD(layer_groups(model), lr=0.1)
    assert [len(g) for g in opt.param_lists] == [2, 2, 2] and len(opt.hypers) == 3
    opt = SGD(
        [{"params": model[0].parameters(), "lr": 0.5, "wd": 0.1}, {"params": model[1].parameters()}], lr=0.1
    )
    assert [h["lr"] for h in opt.hypers] == [0.5, 0.1] and [h["wd"] for h in opt.hypers] == [0.1, 0.0]


def test_hypers_start_from_callback_defaults_then_keywords():
    opt = Optimizer([nn.Parameter(torch.ones(2))], [average_grad, momentum_step], lr=0.3)
    assert opt.hypers == [{"mom": 0.9, "lr": 0.3}]
    opt = Optimizer([nn.Parameter(torch.ones(2))], [average_grad, momentum_step], lr=0.3, mom=0.5)
    assert opt.hypers[0]["mom"] == 0.5


def test_keywords_accept_per_group_values_and_slices():
    opt = Adam(layer_groups(three_layers()), lr=slice(1e-4, 1e-2), wd=[0.0, 0.1, 0.2])
    assert [h["lr"] for h in opt.hypers] == pytest.approx([1e-4, 1e-3, 1e-2])
    assert [h["wd"] for h in opt.hypers] == [0.0, 0.1, 0.2]


@pytest.mark.parametrize(
    "params,match",
    [
        ([], "empty parameter list"),
        ([[], []], "empty parameter list"),
        ([torch.ones(2, requires_grad=True), 3.0], "item 1 is a float"),
        (nn.Linear(2, 2), "pass `model.parameters"),
        ([{"lr": 0.1}], "without a 'params' key"),
        ([torch.ones(2, requires_grad=True) * 2], "not a leaf"),
        ([[torch.ones(2, requires_grad=True)], {"params": []}], "param group 1 is a dict"),
    ],
)
def test_bad_params_get_clear_errors(params, match):
    with pytest.raises((TypeError, ValueError), match=match):
        SGD(params, lr=0.1)


def test_a_parameter_in_two_groups_is_refused():
    p = nn.Parameter(torch.ones(2))
    with pytest.raises(ValueError, match="appears twice"):
        SGD([[p], [p]], lr=0.1)


def test_unknown_group_hyper_and_missing_hyper_are_refused():
    p = nn.Parameter(torch.ones(2))
    with pytest.raises(ValueError, match="weight_decay"):
        SGD([{"params": [p], "weight_decay": 0.1}], lr=0.1)

    def needs_gamma(batch, gamma, **_):
        pass

    with pytest.raises(ValueError, match="needs_gamma needs the hyper-parameters \\['gamma'\\]"):
        Optimizer([p], [needs_gamma], lr=0.1)
    with pytest.raises(TypeError, match="callables"):
        Optimizer([p], [sgd_step, "momentum"], lr=0.1)


# ---- set_hyper --------------------------------------------------------------------------------


def test_set_hyper_scalar_list_and_slices():
    opt = SGD(layer_groups(three_layers()), lr=0.1)
    opt.set_hyper("lr", 0.2)
    assert [h["lr"] for h in opt.hypers] == [0.2, 0.2, 0.2]
    opt.set_hyper("lr", [0.1, 0.2, 0.3])
    assert [h["lr"] for h in opt.hypers] == [0.1, 0.2, 0.3]
    opt.set_hyper("lr", slice(1e-5, 1e-3))  # geometric: each group 10x the one before
    lrs = [h["lr"] for h in opt.hypers]
    assert lrs == pytest.approx([1e-5, 1e-4, 1e-3], rel=1e-12) and lrs[-1] == 1e-3
    opt.set_hyper("lr", slice(3e-3))
    assert [h["lr"] for h in opt.hypers] == pytest.approx([3e-4, 3e-4, 3e-3])
    opt.set_hypers(mom=0.8, wd=(0.0, 0.0, 0.1))
    assert [h["mom"] for h in opt.hypers] == [0.8] * 3 and [h["wd"] for h in opt.hypers] == [0.0, 0.0, 0.1]


def test_set_hyper_geometric_spread_over_four_groups():
    opt = SGD([[nn.Parameter(torch.ones(1))] for _ in range(4)], lr=0.1)
    opt.set_hyper("lr", slice(1e-6, 1e-3))
    lrs = [h["lr"] for h in opt.hypers]
    ratios = [b / a for a, b in zip(lrs, lrs[1:])]
    assert ratios == pytest.approx([10.0] * 3) and lrs[0] == pytest.approx(1e-6)


def test_numpy_and_tensor_hypers_become_plain_numbers():
    opt = SGD(layer_groups(three_layers()), lr=0.1)
    opt.set_hyper("lr", np.float64(0.01))
    opt.set_hyper("wd", np.array([0.0, 0.1, 0.2]))
    opt.set_hyper("mom", torch.tensor(0.5))
    assert all(type(h[k]) is float for h in opt.hypers for k in ("lr", "wd", "mom"))
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    assert torch.load(buffer, weights_only=True)["hypers"][2] == {"wd": 0.2, "mom": 0.5, "lr": 0.01}
    assert [g["lr"] for g in opt.param_groups] == [0.01] * 3 and opt.param_groups[0][
        "params"
    ] == opt.param_lists[0]


def test_set_hyper_bad_values():
    opt = SGD(layer_groups(three_layers()), lr=0.1)
    with pytest.raises(ValueError, match="2 values for 3 parameter groups"):
        opt.set_hyper("lr", [0.1, 0.2])
    with pytest.raises(ValueError, match="slice"):
        opt.set_hyper("lr", slice(1e-3, 1e-2, 2))


def test_set_hyper_changes_the_next_step():
    p = nn.Parameter(torch.zeros(3))
    opt = SGD([p], lr=0.1)
    fill_grads([p])
    opt.step()
    opt.set_hyper("lr", 0.5)
    opt.step()
    assert torch.allclose(p, torch.full((3,), -0.6))


# ---- freezing ---------------------------------------------------------------------------------


def test_freeze_to_respects_force_train():
    model = three_layers()
    opt = SGD(layer_groups(model), lr=0.1)
    opt.state[model[0].bias]["force_train"] = True
    opt.freeze_to(2)
    assert [p.requires_grad for p in model.parameters()] == [False, True, False, False, True, True]
    assert opt.frozen_idx == 2
    opt.freeze()
    assert [p.requires_grad for p in model.parameters()] == [False, True, False, False, True, True]
    opt.freeze_to(1)
    assert [p.requires_grad for p in model.parameters()] == [False, True, True, True, True, True]
    opt.unfreeze()
    assert all(p.requires_grad for p in model.parameters()) and opt.frozen_idx == 0


def test_freezing_everything_warns():
    opt = SGD(layer_groups(three_layers()), lr=0.1)
    with pytest.warns(UserWarning, match="whole model is frozen"):
        opt.freeze_to(3)


def test_frozen_and_gradless_parameters_are_not_stepped():
    model = three_layers()
    opt = Adam(layer_groups(model), lr=0.1, wd=0.1)
    params = list(model.parameters())
    fill_grads(params)
    params[5].grad = None  # no gradient
    opt.freeze_to(1)  # group 0 frozen, its stale grads must not move it (nor decay it)
    before = snapshot(params)
    opt.step()
    moved = [not torch.equal(a, b) for a, b in zip(params, before)]
    assert moved == [False, False, True, True, True, False]
    assert params[0] not in opt.state or "grad_avg" not in opt.state[params[0]]


# ---- weight-decay flag ------------------------------------------------------------------------


@pytest.mark.parametrize("decouple_wd", [True, False])
@pytest.mark.parametrize("factory", [SGD, Adam, RMSProp, RAdam, QHAdam, Larc, Lamb])
def test_do_wd_false_skips_weight_decay(factory, decouple_wd):
    torch.manual_seed(0)
    a, b = nn.Parameter(torch.randn(4, 3)), nn.Parameter(torch.randn(4, 3))
    b.data.copy_(a.data)
    opt_nowd = factory([a, b], lr=0.1, wd=0.5, decouple_wd=decouple_wd)
    opt_nowd.state[b]["do_wd"] = False
    twin = nn.Parameter(a.detach().clone())
    opt_zero = factory([twin], lr=0.1, wd=0.0, decouple_wd=decouple_wd)
    for _ in range(3):
        g = torch.randn(4, 3)
        a.grad, b.grad, twin.grad = g.clone(), g.clone(), g.clone()
        opt_nowd.step()
        opt_zero.step()
    assert torch.allclose(b, twin, atol=1e-6), "do_wd=False must behave as wd=0"
    assert not torch.allclose(a, twin, atol=1e-3), "the others must still be decayed"


def test_l2_reg_leaves_p_grad_untouched():
    p = nn.Parameter(torch.ones(3))
    opt = SGD([p], lr=0.1, wd=0.5, decouple_wd=False)
    p.grad = torch.zeros(3)
    opt.step()
    assert torch.equal(p.grad, torch.zeros(3)) and torch.allclose(p, torch.full((3,), 0.95))


# ---- state ------------------------------------------------------------------------------------


def trained_adam(model, steps=3):
    opt = Adam(layer_groups(model), lr=slice(1e-3, 1e-2), wd=0.01)
    opt.state[model[0].weight]["do_wd"] = False
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    for _ in range(steps):
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
    return opt, x


def test_state_dict_round_trip_gives_identical_next_steps():
    model = three_layers()
    opt, x = trained_adam(model)
    twin_model = three_layers()
    twin_model.load_state_dict(model.state_dict())
    twin = Adam(layer_groups(twin_model), lr=1.0)
    twin.load_state_dict(opt.state_dict())
    assert twin.hypers == opt.hypers and twin.state[twin_model[0].weight]["do_wd"] is False
    for m, o in ((model, opt), (twin_model, twin)):
        for _ in range(3):
            o.zero_grad()
            m(x).pow(2).mean().backward()
            o.step()
    for a, b in zip(model.parameters(), twin_model.parameters()):
        assert torch.equal(a, b)


def test_saved_state_dict_loads_with_weights_only():
    model = three_layers()
    opt, _ = trained_adam(model)
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    sd = torch.load(buffer, weights_only=True)
    fresh = Adam(layer_groups(three_layers()), lr=0.1)
    fresh.load_state_dict(sd)
    p = fresh.param_lists[1][0]
    assert fresh.state[p]["step"] == 3
    assert torch.equal(fresh.state[p]["grad_avg"], opt.state[model[1].weight]["grad_avg"])
    assert fresh.state[p]["grad_avg"] is not opt.state[model[1].weight]["grad_avg"]


def test_load_state_dict_mismatches_are_clear():
    model = three_layers()
    opt, _ = trained_adam(model)
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="3 parameter groups, this optimizer has 2"):
        Adam([list(model[0].parameters()), list(model[1].parameters())], lr=0.1).load_state_dict(sd)
    regrouped = [[*model[0].parameters(), model[1].weight], [model[1].bias], list(model[2].parameters())]
    with pytest.raises(ValueError, match="parameters per group"):
        Adam(regrouped, lr=0.1).load_state_dict(sd)
    other = nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 4), nn.Linear(4, 2))
    with pytest.raises(ValueError, match="shape"):
        Adam(layer_groups(other), lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="'state' and 'hypers'"):
        opt.load_state_dict({"state": []})


def test_load_state_dict_moves_state_to_parameter_dtype():
    model = three_layers()
    opt, _ = trained_adam(model)
    model64 = three_layers().double()
    opt64 = Adam(layer_groups(model64), lr=0.1)
    opt64.load_state_dict(opt.state_dict())
    assert opt64.state[model64[2].weight]["sqr_avg"].dtype == torch.float64


def test_clear_state_keeps_flags():
    model = three_layers()
    opt, _ = trained_adam(model)
    opt.state[model[2].bias]["force_train"] = True
    opt.clear_state()
    assert opt.state[model[0].weight] == {"do_wd": False}
    assert opt.state[model[2].bias] == {"force_train": True}
    assert opt.state[model[1].weight] == {}


# ---- step details ----------------------------------------------------------------------------


def test_sparse_gradients_get_a_clear_error():
    emb = nn.Embedding(10, 3, sparse=True)
    opt = Adam(emb.parameters(), lr=0.1)
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse gradient.*SparseAdam"):
        opt.step()


def test_complex_parameters_get_a_clear_error():
    p = nn.Parameter(torch.ones(2, dtype=torch.complex64))
    opt = Adam([p], lr=0.1)
    p.grad = torch.ones_like(p)
    with pytest.raises(RuntimeError, match="parameter 0 of group 0 \\(\\(2,\\)\\) is complex"):
        opt.step()


def test_zero_grad_drops_or_zeroes():
    p = nn.Parameter(torch.ones(3))
    opt = SGD([p], lr=0.1)
    p.grad = torch.ones(3)
    opt.zero_grad(set_to_none=False)
    assert torch.equal(p.grad, torch.zeros(3))
    opt.zero_grad()
    assert p.grad is None


def test_closure_is_evaluated_with_grad_and_returned():
    p = nn.Parameter(torch.tensor([2.0]))
    opt = SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 4.0
    assert p.item() == pytest.approx(1.0)


def test_mixed_dtypes_in_one_group():
    a, b = nn.Parameter(torch.ones(2)), nn.Parameter(torch.ones(2, dtype=torch.float64))
    opt = SGD([a, b], lr=0.1, mom=0.5)
    for _ in range(2):
        fill_grads([a, b])
        opt.step()
    # momentum: 1, then 1.5 -> total 2.5 * lr
    assert torch.allclose(a, torch.full((2,), 0.75)) and torch.allclose(b.float(), a)
    assert opt.state[b]["grad_avg"].dtype == torch.float64


def test_a_custom_stat_and_stepper_compose():
    """The paper's point: a new optimizer is a new list of callbacks (here sign-SGD with momentum)."""

    @declare_defaults(mom=0.9)
    def sign_step(batch: ParamBatch, lr, **_):
        signs = torch._foreach_sign(batch.state_tensors("grad_avg"))
        torch._foreach_add_(batch.params, signs, alpha=-lr)

    p = nn.Parameter(torch.zeros(3))
    opt = Optimizer([p], [weight_decay, partial(average_grad, dampening=True), sign_step], lr=0.1)
    p.grad = torch.tensor([2.0, -3.0, 0.0])
    opt.step()
    assert torch.allclose(p, torch.tensor([-0.1, 0.1, 0.0]))


def test_larc_local_lr_of_zero_initialised_bias_is_lr():
    bias = nn.Parameter(torch.zeros(3))
    opt = Larc([bias], lr=0.1, mom=0.0)
    bias.grad = torch.ones(3)
    opt.step()
    assert opt.state[bias]["local_lr"] == 0.1 and torch.allclose(bias, torch.full((3,), -0.1))


def test_adam_handles_parameters_at_different_step_counts():
    a, b = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(2))
    opt = Adam([a, b], lr=0.1, wd=0.0, eps=0.0)
    fill_grads([a])
    opt.step()  # b has no grad: only a steps
    fill_grads([a, b])
    opt.step()
    assert opt.state[a]["step"] == 2 and opt.state[b]["step"] == 1
    # a constant gradient gives Adam steps of exactly lr whatever the step count
    assert torch.allclose(a, torch.full((2,), -0.2)) and torch.allclose(b, torch.full((2,), -0.1))


# ---- Lookahead interface ---------------------------------------------------------------------


def test_lookahead_offers_the_wrapped_interface_and_round_trips():
    model = three_layers()
    opt = Lookahead(Adam(layer_groups(model), lr=0.01), k=2)
    opt.set_hyper("lr", slice(1e-3))
    assert [h["lr"] for h in opt.opt.hypers] == pytest.approx([1e-4, 1e-4, 1e-3])
    opt.freeze()
    assert opt.frozen_idx == 2 and not model[0].weight.requires_grad
    opt.unfreeze()
    x = torch.randn(4, 3)
    for _ in range(3):
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    twin_model = three_layers()
    twin_model.load_state_dict(model.state_dict())
    twin = Lookahead(Adam(layer_groups(twin_model), lr=0.01), k=2)
    twin.load_state_dict(torch.load(buffer, weights_only=True))
    assert twin.count == 3
    for m, o in ((model, opt), (twin_model, twin)):
        o.zero_grad()
        m(x).sum().backward()
        o.step()  # step 4: a slow/fast sync
    for a, b in zip(model.parameters(), twin_model.parameters()):
        assert torch.equal(a, b)
    opt.clear_state()
    assert opt.count == 0 and opt.slow_weights is None and "step" not in opt.state[model[0].weight]


def test_lookahead_rejects_bad_arguments():
    with pytest.raises(ValueError, match="k must be"):
        Lookahead(SGD([nn.Parameter(torch.ones(1))], lr=0.1), k=0)
    with pytest.raises(TypeError, match="Lamina optimizer"):
        Lookahead(torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=0.1).param_groups)


def test_all_factories_share_the_opt_func_shape():
    for factory in (SGD, Adam, RMSProp, RAdam, QHAdam, Larc, Lamb):
        p = nn.Parameter(torch.ones(2))
        opt = factory([p], 0.01)
        p.grad = torch.ones(2)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            opt.step()
        assert opt.hypers[0]["lr"] == 0.01 and not math.isnan(p.sum().item())
