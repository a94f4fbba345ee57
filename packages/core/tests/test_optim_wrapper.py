"""OptimWrapper: a torch.optim optimizer behind the Lamina interface, driven by Lamina hyper-parameter
names."""

import io
from functools import partial

import pytest
import torch
from torch import nn

from lamina.core.optim.lookahead import Lookahead
from lamina.core.optim.optimizers import Adam
from lamina.core.optim.wrapper import OptimWrapper


def three_layers() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 4), nn.Linear(4, 2))


def layer_groups(model):
    return [list(m.parameters()) for m in model]


def test_hypers_read_and_write_the_torch_groups():
    opt = OptimWrapper(layer_groups(three_layers()), opt=torch.optim.AdamW, lr=1e-3)
    torch_groups = opt.opt.param_groups
    assert len(torch_groups) == 3
    assert opt.hypers[0]["mom"] == 0.9 and opt.hypers[0]["sqr_mom"] == 0.999 and opt.hypers[0]["wd"] == 0.01
    opt.set_hyper("lr", slice(1e-5, 1e-3))
    opt.set_hyper("mom", [0.95, 0.9, 0.85])
    opt.set_hypers(sqr_mom=0.99, wd=0.1, eps=1e-6)
    assert [g["lr"] for g in torch_groups] == pytest.approx([1e-5, 1e-4, 1e-3])
    assert [g["betas"] for g in torch_groups] == [(0.95, 0.99), (0.9, 0.99), (0.85, 0.99)]
    assert [g["weight_decay"] for g in torch_groups] == [0.1] * 3 and torch_groups[0]["eps"] == 1e-6
    opt.hypers[2]["lr"] = 0.5  # a hypers dict is a live view
    assert torch_groups[2]["lr"] == 0.5


@pytest.mark.parametrize(
    "cls,mom_key,sqr_key",
    [
        (torch.optim.SGD, "momentum", None),
        (torch.optim.RMSprop, "momentum", "alpha"),
        (torch.optim.Adam, None, None),
    ],
)
def test_lamina_names_map_to_each_torch_optimizer(cls, mom_key, sqr_key):
    opt = OptimWrapper(three_layers().parameters(), opt=cls, lr=0.1, mom=0.7, wd=0.01)
    group = opt.opt.param_groups[0]
    assert group["weight_decay"] == 0.01 and opt.hypers[0]["mom"] == 0.7
    assert (group[mom_key] if mom_key else group["betas"][0]) == 0.7
    if sqr_key:
        opt.set_hyper("sqr_mom", 0.5)
        assert group[sqr_key] == 0.5


def test_unknown_hyper_names_the_known_ones():
    opt = OptimWrapper(three_layers().parameters(), opt=torch.optim.SGD, lr=0.1)
    with pytest.raises(KeyError, match="'sqr_mom'.*'mom'"):
        opt.set_hyper("sqr_mom", 0.9)


def test_scheduled_hypers_drive_the_torch_optimizer():
    """Changing lr/mom through the wrapper each step gives the same weights as changing torch's groups."""
    ours_model, ref_model = three_layers(), three_layers()
    ours = OptimWrapper(ours_model.parameters(), opt=torch.optim.AdamW, lr=1e-2, wd=0.05)
    ref = torch.optim.AdamW(ref_model.parameters(), lr=1e-2, weight_decay=0.05)
    x = torch.randn(16, 3, generator=torch.Generator().manual_seed(0))
    for step in range(8):
        lr, mom = 1e-2 * (1 + step), 0.95 - 0.02 * step
        ours.set_hypers(lr=lr, mom=mom)
        ref.param_groups[0]["lr"], ref.param_groups[0]["betas"] = lr, (mom, 0.999)
        for model, opt in ((ours_model, ours), (ref_model, ref)):
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
    for a, b in zip(ours_model.parameters(), ref_model.parameters()):
        assert torch.equal(a, b)
    assert not torch.equal(ours_model[0].weight, three_layers()[0].weight)


def test_dict_groups_may_use_either_naming():
    model = three_layers()
    opt = OptimWrapper(
        [
            {"params": model[0].parameters(), "mom": 0.5, "lr": 0.2},
            {"params": model[1].parameters(), "momentum": 0.3},
        ],
        opt=torch.optim.SGD,
        lr=0.1,
    )
    assert [g["momentum"] for g in opt.opt.param_groups] == [0.5, 0.3]
    assert [g["lr"] for g in opt.opt.param_groups] == [0.2, 0.1]


def test_freeze_to_with_force_train_and_param_lists():
    model = three_layers()
    opt = OptimWrapper(layer_groups(model), opt=torch.optim.SGD, lr=0.1)
    assert [len(g) for g in opt.param_lists] == [2, 2, 2]
    opt.state[model[1].bias]["force_train"] = True
    opt.freeze()
    assert [p.requires_grad for p in model.parameters()] == [False, False, False, True, True, True]
    opt.unfreeze()
    assert all(p.requires_grad for p in model.parameters())


def test_state_dict_round_trip_and_clear_state():
    model = three_layers()
    opt = OptimWrapper(layer_groups(model), opt=torch.optim.Adam, lr=0.01)
    x = torch.randn(4, 3)
    model(x).sum().backward()
    opt.step()
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    twin_model = three_layers()
    twin_model.load_state_dict(model.state_dict())
    twin = OptimWrapper(layer_groups(twin_model), opt=torch.optim.Adam, lr=0.5)
    twin.load_state_dict(torch.load(buffer, weights_only=True))
    assert twin.hypers[0]["lr"] == 0.01
    for m, o in ((model, opt), (twin_model, twin)):
        o.zero_grad()
        m(x).sum().backward()
        o.step()
    for a, b in zip(model.parameters(), twin_model.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="OptimWrapper.load_state_dict"):
        OptimWrapper([model[0].weight], opt=torch.optim.Adam).load_state_dict(opt.state_dict())
    opt.state[model[0].weight]["do_wd"] = False
    opt.clear_state()
    assert len(opt.opt.state) == 0 and opt.state[model[0].weight] == {"do_wd": False}


def test_wrapping_a_built_optimizer_and_bad_arguments():
    model = three_layers()
    built = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt = OptimWrapper(None, opt=built)
    assert opt.hypers[0]["mom"] == 0.9 and opt.opt is built
    with pytest.raises(ValueError, match="both params and a built optimizer"):
        OptimWrapper(model.parameters(), opt=built)
    with pytest.raises(TypeError, match="optimizer class or instance"):
        OptimWrapper(model.parameters(), opt="adam")


def test_do_wd_false_is_reported_not_silently_ignored():
    model = three_layers()
    opt = OptimWrapper(model.parameters(), opt=torch.optim.AdamW, lr=0.01)
    opt.state[model[0].bias]["do_wd"] = False
    model(torch.randn(2, 3)).sum().backward()
    with pytest.warns(UserWarning, match="do_wd=False"):
        opt.step()


def test_a_lamina_opt_func_built_by_partial():
    opt_func = partial(OptimWrapper, opt=torch.optim.SGD, mom=0.9)
    opt = opt_func(three_layers().parameters(), lr=0.1)
    assert opt.hypers[0]["lr"] == 0.1 and opt.opt.param_groups[0]["momentum"] == 0.9


def test_lookahead_over_the_wrapper():
    ours_model, ref_model = three_layers(), three_layers()
    ours = Lookahead(OptimWrapper(ours_model.parameters(), opt=torch.optim.Adam, lr=0.01, eps=1e-5), k=2)
    ref = Lookahead(Adam(ref_model.parameters(), lr=0.01, sqr_mom=0.999, eps=1e-5, wd=0.0), k=2)
    x = torch.randn(4, 3)
    for _ in range(4):
        for m, o in ((ours_model, ours), (ref_model, ref)):
            o.zero_grad()
            m(x).pow(2).sum().backward()
            o.step()
    for a, b in zip(ours_model.parameters(), ref_model.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
