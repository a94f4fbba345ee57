"""SGD, Adam, AdamW, RMSProp and RAdam follow `torch.optim` step for step (same hyper-parameters)."""

import copy
from functools import partial

import pytest
import torch
from torch import nn

from lamina.core.optim.optimizers import SGD, Adam, RAdam, RMSProp

N_STEPS = 10


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3))


def batches(n: int = N_STEPS) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(32, 5, generator=g), torch.randn(32, 3, generator=g)) for _ in range(n)]


def train_side_by_side(make_ours, make_theirs, param_groups=None) -> None:
    """Run both optimizers on copies of one model and check the weights after every step."""
    ours_model, theirs_model = small_model(), small_model()
    groups = param_groups or (lambda m: list(m.parameters()))
    ours, theirs = make_ours(groups(ours_model)), make_theirs(groups(theirs_model))
    for step, (x, y) in enumerate(batches()):
        for model, opt in ((ours_model, ours), (theirs_model, theirs)):
            opt.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            opt.step()
        for (name, a), b in zip(ours_model.named_parameters(), theirs_model.parameters()):
            diff = (a - b).abs().max().item()
            assert diff <= 1e-6, f"step {step}, {name}: differs from torch by {diff:.2e}"
    moved = max(
        (a - b).abs().max().item() for a, b in zip(ours_model.parameters(), small_model().parameters())
    )
    assert moved > 1e-3, "the weights barely moved: the comparison would prove nothing"


@pytest.mark.parametrize("decouple_wd", [True, False])
def test_sgd_plain_and_weight_decay(decouple_wd):
    train_side_by_side(
        lambda p: SGD(p, lr=0.1, wd=0.05, decouple_wd=decouple_wd),
        lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.05),
    )


def test_sgd_without_weight_decay():
    train_side_by_side(lambda p: SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1))


def test_sgd_momentum_with_l2():
    train_side_by_side(
        lambda p: SGD(p, lr=0.05, mom=0.9, wd=0.01, decouple_wd=False),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.01),
    )


def test_sgd_momentum_param_groups_with_their_own_lr():
    def groups(model):
        layers = list(model.children())
        return [
            {"params": layers[0].parameters(), "lr": 0.01},
            {"params": [*layers[2].parameters(), *layers[4].parameters()]},
        ]

    train_side_by_side(
        lambda g: SGD(g, lr=0.1, mom=0.9),
        lambda g: torch.optim.SGD(g, lr=0.1, momentum=0.9),
        param_groups=groups,
    )


def test_adam_with_l2_matches_torch_adam():
    train_side_by_side(
        lambda p: Adam(p, lr=1e-2, mom=0.9, sqr_mom=0.99, eps=1e-5, wd=0.01, decouple_wd=False),
        lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01),
    )


def test_adam_without_wd_matches_torch_adam_foreach_and_for_loop():
    for foreach in (True, False):
        train_side_by_side(
            lambda p: Adam(p, lr=3e-3, wd=0.0),
            lambda p, fe=foreach: torch.optim.Adam(p, lr=3e-3, betas=(0.9, 0.99), eps=1e-5, foreach=fe),
        )


def test_adam_decoupled_matches_torch_adamw():
    train_side_by_side(
        lambda p: Adam(p, lr=1e-2, mom=0.8, sqr_mom=0.95, eps=1e-6, wd=0.1),
        lambda p: torch.optim.AdamW(p, lr=1e-2, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1),
    )


def test_rmsprop_matches_torch():
    train_side_by_side(
        lambda p: RMSProp(p, lr=1e-3, sqr_mom=0.9),
        lambda p: torch.optim.RMSprop(p, lr=1e-3, alpha=0.9, eps=1e-8),
    )


def test_rmsprop_with_momentum_and_l2_matches_torch():
    train_side_by_side(
        lambda p: RMSProp(p, lr=1e-3, sqr_mom=0.99, mom=0.9, wd=0.01, decouple_wd=False),
        lambda p: torch.optim.RMSprop(p, lr=1e-3, alpha=0.99, momentum=0.9, weight_decay=0.01),
    )


def test_radam_matches_torch_where_eps_placement_agrees():
    # torch adds eps to sqrt(v) before the bias correction, we after: with eps=0 they are the same rule.
    train_side_by_side(
        lambda p: RAdam(p, lr=1e-2, mom=0.9, sqr_mom=0.99, eps=0.0),
        lambda p: torch.optim.RAdam(p, lr=1e-2, betas=(0.9, 0.99), eps=0.0),
    )


def test_parity_holds_for_a_model_copied_mid_training():
    # the state is per parameter: a deep copy of model + optimizer continues identically.
    model = small_model()
    opt = partial(Adam, lr=1e-2)(list(model.parameters()))
    x, y = batches(1)[0]
    nn.functional.mse_loss(model(x), y).backward()
    opt.step()
    twin_model = copy.deepcopy(model)
    twin = Adam(list(twin_model.parameters()), lr=1e-2)
    twin.load_state_dict(opt.state_dict())
    for m, o in ((model, opt), (twin_model, twin)):
        o.zero_grad()
        nn.functional.mse_loss(m(x), y).backward()
        o.step()
    for a, b in zip(model.parameters(), twin_model.parameters()):
        assert torch.equal(a, b)
