"""Learner.summary: layers with output shapes and parameter counts from one real batch, and the setup."""

import pytest
import torch
from torch import nn

from lamina.core.learner.learner import Learner
from lamina.core.learner.synth import synth_dls
from lamina.core.optim.optimizers import SGD


def two_groups(m):
    return [list(m[0].parameters()) + list(m[1].parameters()), list(m[3].parameters())]


def make(**kwargs):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))
    kwargs.setdefault("loss_func", nn.functional.mse_loss)
    return Learner(synth_dls(bs=16), model, splitter=two_groups, **kwargs)


def rows(text):
    lines = text.splitlines()
    rules = [i for i, line in enumerate(lines) if line.startswith("=")]
    return [line.split() for line in lines[rules[1] + 1 : rules[2]]]


def test_one_row_per_layer_with_shapes_and_parameter_counts():
    text = make().summary()
    lines = text.splitlines()
    assert lines[0] == "Sequential (input shape: 16 x 1)"
    assert rows(text) == [
        ["0", "(Linear)", "16", "x", "8", "16", "True"],
        ["1", "(BatchNorm1d)", "16", "x", "8", "16", "True"],
        ["2", "(ReLU)", "16", "x", "8", "0"],
        ["3", "(Linear)", "16", "x", "1", "9", "True"],
    ]
    assert "Total params: 41" in lines and "Total trainable params: 41" in lines
    assert "Total non-trainable params: 0" in lines
    assert repr(text) == str(text)  # shows itself as it reads


def test_setup_lines_optimizer_loss_callbacks():
    text = make(opt_func=SGD).summary()
    lines = text.splitlines()
    assert "Optimizer used: SGD" in lines and "Loss function: mse_loss" in lines
    cbs = lines[lines.index("Callbacks:") + 1 :]
    assert cbs == ["  - TrainEvalCallback", "  - Recorder", "  - ProgressCallback"]
    assert "Model unfrozen (2 parameter groups, all training)" in lines


def test_frozen_state_and_trainable_counts_follow_freeze():
    learn = make()
    learn.freeze()
    text = learn.summary()
    lines = text.splitlines()
    assert "Model frozen up to parameter group #1 (of 2)" in lines
    table = rows(text)
    assert table[0][-1] == "False" and table[1][-1] == "True"  # BatchNorm keeps training (train_bn)
    assert "Total trainable params: 25" in lines and "Total non-trainable params: 16" in lines
    learn.unfreeze()
    assert "Model unfrozen (2 parameter groups, all training)" in learn.summary().splitlines()


def test_summary_leaves_the_model_as_it_was():
    learn = make()
    learn.model.train()
    learn.model[1].eval()
    before = [p.clone() for p in learn.model.parameters()]
    stats = learn.model[1].running_mean.clone()
    learn.summary()
    assert learn.model.training and not learn.model[1].training and learn.model[0].training
    assert all(torch.equal(a, b) for a, b in zip(before, learn.model.parameters()))
    assert torch.equal(stats, learn.model[1].running_mean)  # eval mode: no running-stat update
    assert all(p.grad is None for p in learn.model.parameters())


def test_a_failing_forward_pass_is_named():
    learn = make()
    learn.model[3] = nn.Linear(5, 1)  # does not fit the 8 features before it
    with pytest.raises(RuntimeError) as info:
        learn.summary()
    assert "Learner.summary: the forward pass of Sequential on inputs (16, 1)" in " ".join(
        info.value.__notes__
    )
