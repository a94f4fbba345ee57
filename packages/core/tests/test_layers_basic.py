"""Utility layers, pooling, activations, LinBnDrop and create_head."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from lamina.core.layers.activations import Mish, Swish
from lamina.core.layers.basic import Embedding, Flatten, Identity, Lambda, SigmoidRange, View
from lamina.core.layers.head import create_head
from lamina.core.layers.linear import LinBnDrop
from lamina.core.layers.pooling import AdaptiveConcatPool1d, AdaptiveConcatPool2d, AvgPool, MaxPool


def test_flatten_view_lambda_identity():
    x = torch.randn(4, 3, 2, 5)
    assert Flatten()(x).shape == (4, 30)
    assert Flatten(full=True)(x).shape == (120,)
    assert Flatten()(x.transpose(1, 3)).shape == (4, 30)  # non-contiguous input is fine
    assert View(4, -1)(x).shape == (4, 30)
    assert torch.equal(Lambda(lambda t: t + 1)(x), x + 1)
    assert Identity()(x) is x
    with pytest.raises(RuntimeError, match=r"View\(7, -1\): cannot view an input of shape \(4, 3, 2, 5\)"):
        View(7, -1)(x)
    with pytest.raises(TypeError, match="Lambda: func must be callable"):
        Lambda(3)


def test_adaptive_concat_pool_doubles_channels_with_max_then_avg():
    x = torch.randn(2, 6, 5, 7)
    out = AdaptiveConcatPool2d()(x)
    assert out.shape == (2, 12, 1, 1)
    assert torch.allclose(out[:, :6, 0, 0], x.amax(dim=(2, 3)))
    assert torch.allclose(out[:, 6:, 0, 0], x.mean(dim=(2, 3)))
    assert AdaptiveConcatPool2d(3)(x).shape == (2, 12, 3, 3)
    seq = torch.randn(2, 6, 11)
    out1 = AdaptiveConcatPool1d()(seq)
    assert out1.shape == (2, 12, 1)
    assert torch.allclose(out1[:, :6, 0], seq.amax(dim=2)) and torch.allclose(out1[:, 6:, 0], seq.mean(dim=2))
    with pytest.raises(ValueError, match=r"AdaptiveConcatPool2d: expected .* got shape \(2, 6, 11\)"):
        AdaptiveConcatPool2d()(seq)


def test_pool_factories_pick_the_class_for_ndim():
    assert isinstance(AvgPool(2, ndim=1), nn.AvgPool1d)
    assert isinstance(MaxPool(3, ndim=3), nn.MaxPool3d)
    assert AvgPool(2, ceil_mode=True)(torch.randn(1, 1, 5, 5)).shape == (1, 1, 3, 3)
    with pytest.raises(ValueError, match="MaxPool: ndim must be 1, 2 or 3"):
        MaxPool(ndim=5)


def test_sigmoid_range_bounds():
    layer = SigmoidRange(-1.0, 5.5)
    x = torch.tensor([-1e4, -3.0, 0.0, 3.0, 1e4])
    out = layer(x)
    assert torch.all(out >= -1.0) and torch.all(out <= 5.5)
    assert out[0].item() == pytest.approx(-1.0) and out[-1].item() == pytest.approx(5.5)
    assert out[2].item() == pytest.approx(2.25)
    assert torch.allclose(out, torch.sigmoid(x) * 6.5 - 1.0)
    with pytest.raises(ValueError, match="low must be below high"):
        SigmoidRange(2, 1)


def test_embedding_truncated_normal_init():
    emb = Embedding(1000, 200, std=0.01)
    w = emb.weight.detach()
    assert isinstance(emb, nn.Embedding) and w.shape == (1000, 200)
    assert w.abs().max().item() <= 0.02 + 1e-7  # truncated at 2 std
    assert w.std().item() == pytest.approx(0.01 * 0.8796, rel=0.02)
    assert w.mean().abs().item() < 5e-4


def test_mish_and_swish_equal_their_formulas_and_use_torch_kernels():
    x = torch.linspace(-6, 6, 101)
    assert torch.allclose(Mish()(x), x * torch.tanh(F.softplus(x)), atol=1e-6)
    assert torch.allclose(Swish()(x), x * torch.sigmoid(x), atol=1e-6)
    assert isinstance(Mish(), nn.Mish) and isinstance(Swish(), nn.SiLU)


def test_lin_bn_drop_orders():
    block = LinBnDrop(10, 4, p=0.3, act=nn.ReLU())
    assert [type(m) for m in block] == [nn.BatchNorm1d, nn.Dropout, nn.Linear, nn.ReLU]
    assert block[0].num_features == 10 and block[1].p == 0.3 and block[2].bias is None
    first = LinBnDrop(10, 4, p=0.3, act=nn.ReLU(), lin_first=True)
    assert [type(m) for m in first] == [nn.Linear, nn.ReLU, nn.BatchNorm1d, nn.Dropout]
    assert first[2].num_features == 4
    plain = LinBnDrop(10, 4, bn=False)
    assert [type(m) for m in plain] == [nn.Linear] and plain[0].bias is not None
    assert block(torch.randn(8, 10)).shape == (8, 4)
    with pytest.raises(ValueError, match="dropout p must be in"):
        LinBnDrop(3, 2, p=1.5)


def test_create_head_default_layout_and_shape():
    head = create_head(64, 10)
    assert isinstance(head[0], AdaptiveConcatPool2d) and isinstance(head[1], Flatten)
    linears = [m for m in head if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(128, 512), (512, 10)]
    assert [m.p for m in head if isinstance(m, nn.Dropout)] == [0.25, 0.5]
    assert head(torch.randn(3, 64, 4, 4)).shape == (3, 10)


def test_create_head_options():
    head = create_head(32, 5, lin_ftrs=[64, 16], ps=[0.1, 0.2, 0.3], concat_pool=False, bn_final=True)
    assert isinstance(head[0], nn.AdaptiveAvgPool2d)
    linears = [m for m in head if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(32, 64), (64, 16), (16, 5)]
    assert [m.p for m in head if isinstance(m, nn.Dropout)] == [0.1, 0.2, 0.3]
    assert isinstance(head[-1], nn.BatchNorm1d)
    assert head(torch.randn(4, 32, 3, 3)).shape == (4, 5)
    no_pool = create_head(20, 3, pool=False, first_bn=False)
    assert isinstance(no_pool[0], nn.Dropout)  # no pooling and no first batch norm
    assert no_pool(torch.randn(4, 20)).shape == (4, 3)
    lin_first = create_head(16, 3, lin_first=True)
    assert isinstance(lin_first[2], nn.Dropout) and isinstance(lin_first[-1], nn.Linear)
    assert lin_first(torch.randn(4, 16, 2, 2)).shape == (4, 3)
    with pytest.raises(ValueError, match="ps has 2 values for 3 linear blocks"):
        create_head(8, 2, lin_ftrs=[4, 4], ps=[0.1, 0.2])


def test_create_head_y_range_bounds_outputs():
    head = create_head(8, 2, y_range=(0.0, 5.5))
    assert isinstance(head[-1], SigmoidRange)
    out = head(torch.randn(16, 8, 2, 2) * 100)
    assert out.shape == (16, 2) and torch.all(out >= 0) and torch.all(out <= 5.5)
