"""ConvLayer (1/2/3-d, transposed, every norm type, init), BatchNorm/InstanceNorm, weight init helpers."""

import math

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from lamina.core.layers.conv import ConvLayer
from lamina.core.layers.init import apply_init, default_init_for, init_default, trunc_normal_
from lamina.core.layers.norm import BatchNorm, InstanceNorm, NormType


@pytest.mark.parametrize(
    "ndim, size, expected",
    [(1, (2, 3, 16), (2, 8, 8)), (2, (2, 3, 16, 12), (2, 8, 8, 6)), (3, (2, 3, 8, 6, 4), (2, 8, 4, 3, 2))],
)
def test_conv_layer_shapes_for_each_ndim(ndim, size, expected):
    layer = ConvLayer(3, 8, ks=3, stride=2, ndim=ndim)
    assert isinstance(layer[0], {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[ndim])
    assert isinstance(layer[1], {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[ndim])
    assert layer(torch.randn(size)).shape == expected


def test_default_padding_keeps_size_for_odd_kernels():
    for ks in (1, 3, 5, 7):
        assert ConvLayer(2, 4, ks=ks)(torch.randn(1, 2, 9, 9)).shape == (1, 4, 9, 9)
    assert ConvLayer(2, 4, ks=(3, 5))(torch.randn(1, 2, 9, 9)).shape == (1, 4, 9, 9)


def test_transposed_conv_upsamples():
    layer = ConvLayer(8, 4, ks=2, stride=2, transpose=True)
    assert isinstance(layer[0], nn.ConvTranspose2d)
    assert layer[0].padding == (0, 0)
    assert layer(torch.randn(2, 8, 5, 7)).shape == (2, 4, 10, 14)
    assert ConvLayer(8, 4, ks=2, stride=2, transpose=True, ndim=1)(torch.randn(2, 8, 5)).shape == (2, 4, 10)


def test_batch_norm_type_order_and_bias():
    conv, bn, act = ConvLayer(3, 8)
    assert conv.bias is None and isinstance(bn, nn.BatchNorm2d) and isinstance(act, nn.ReLU)
    assert torch.all(bn.weight == 1) and torch.allclose(bn.bias, torch.full((8,), 1e-3))
    conv, act, bn = ConvLayer(3, 8, bn_1st=False)
    assert isinstance(act, nn.ReLU) and isinstance(bn, nn.BatchNorm2d)


def test_batch_zero_starts_with_zero_gamma():
    layer = ConvLayer(3, 8, norm_type=NormType.BatchZero, act_cls=None)
    bn = layer[1]
    assert torch.all(bn.weight == 0)
    out = layer.train()(torch.randn(4, 3, 6, 6))
    assert torch.allclose(out, torch.full_like(out, 1e-3))


def test_instance_norm_types():
    conv, norm, _ = ConvLayer(3, 8, norm_type=NormType.Instance)
    assert conv.bias is None and isinstance(norm, nn.InstanceNorm2d) and norm.affine
    assert torch.all(norm.weight == 1)
    _, zero_norm = ConvLayer(3, 8, ndim=1, norm_type="InstanceZero", act_cls=None)
    assert isinstance(zero_norm, nn.InstanceNorm1d) and torch.all(zero_norm.weight == 0)


def test_weight_norm_makes_the_weight_scale_free():
    layer = ConvLayer(3, 8, norm_type=NormType.Weight, act_cls=None)
    conv = layer[0]
    assert len(layer) == 1 and conv.bias is not None
    assert parametrize.is_parametrized(conv, "weight")
    before = conv.weight.detach().clone()
    with torch.no_grad():
        conv.parametrizations.weight.original1.mul_(7.0)  # the direction v; the magnitude g is separate
    assert torch.allclose(conv.weight, before, atol=1e-6)


def test_spectral_norm_bounds_the_largest_singular_value():
    layer = ConvLayer(6, 8, norm_type=NormType.Spectral, act_cls=None)
    x = torch.randn(2, 6, 5, 5)
    for _ in range(30):  # power iterations run in training mode
        layer(x)
    sigma = torch.linalg.matrix_norm(layer[0].weight.detach().flatten(1), ord=2)
    assert sigma.item() == pytest.approx(1.0, abs=1e-2)


def test_no_norm_gives_conv_with_bias_and_activation():
    conv, act = ConvLayer(3, 8, norm_type=None)
    assert conv.bias is not None and isinstance(act, nn.ReLU)
    (conv,) = ConvLayer(3, 8, norm_type=None, act_cls=None)
    assert isinstance(conv, nn.Conv2d)


def test_xtra_and_conv_kwargs():
    layer = ConvLayer(4, 8, groups=2, dilation=2, xtra=nn.Dropout2d(0.1))
    assert layer[0].groups == 2 and layer[0].dilation == (2, 2)
    assert isinstance(layer[-1], nn.Dropout2d)
    assert ConvLayer(4, 8, ks=3, padding=0)(torch.randn(1, 4, 7, 7)).shape == (1, 8, 5, 5)


def test_auto_init_uses_kaiming_uniform_after_relu_and_torch_default_otherwise():
    fan_in = 32 * 3 * 3
    relu_w = ConvLayer(32, 256)[0].weight.detach()
    assert relu_w.abs().max() <= math.sqrt(6 / fan_in) + 1e-6
    assert relu_w.abs().max() > 0.95 * math.sqrt(6 / fan_in)
    plain_w = ConvLayer(32, 256, act_cls=None)[0].weight.detach()
    assert plain_w.abs().max() <= 1 / math.sqrt(fan_in) + 1e-6  # PyTorch's default bound is smaller
    assert default_init_for(nn.LeakyReLU()) is nn.init.kaiming_uniform_
    assert default_init_for(nn.Tanh) is None


def test_explicit_init_and_bias_std():
    conv = ConvLayer(8, 512, norm_type=None, init=nn.init.zeros_)[0]
    assert torch.all(conv.weight == 0)
    assert conv.bias.std().item() == pytest.approx(0.01, rel=0.2)
    assert torch.all(ConvLayer(8, 16, norm_type=None, bias_std=0)[0].bias == 0)


def test_conv_layer_errors_name_the_argument():
    with pytest.raises(ValueError, match="ndim must be 1, 2 or 3"):
        ConvLayer(3, 8, ndim=4)
    with pytest.raises(ValueError, match=r"groups=3 must divide both ni=4 and nf=8"):
        ConvLayer(4, 8, groups=3)
    with pytest.raises(ValueError, match="nf must be a positive int"):
        ConvLayer(4, 0)
    with pytest.raises(ValueError, match="norm_type must be a NormType .*BatchZero"):
        ConvLayer(4, 8, norm_type="batchy")


def test_batchnorm_and_instancenorm_factories():
    bn = BatchNorm(5, ndim=3, norm_type=NormType.BatchZero)
    assert isinstance(bn, nn.BatchNorm3d) and torch.all(bn.weight == 0)
    assert torch.allclose(bn.bias, torch.full((5,), 1e-3))
    assert isinstance(BatchNorm(5, ndim=1), nn.BatchNorm1d)
    inn = InstanceNorm(4, ndim=2)
    assert isinstance(inn, nn.InstanceNorm2d) and inn.affine and torch.all(inn.weight == 1)
    assert not InstanceNorm(4, affine=False).affine
    with pytest.raises(ValueError, match="BatchNorm: ndim must be 1, 2 or 3"):
        BatchNorm(4, ndim=0)


def test_init_default_and_apply_init():
    lin = nn.Linear(400, 300)
    init_default(lin)
    assert torch.all(lin.bias == 0)
    assert lin.weight.std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.05)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(8, 4))
    model[2].requires_grad_(False)
    frozen = model[2].weight.detach().clone()
    nn.init.constant_(model[1].weight, 3.0)
    nn.init.constant_(model[1].bias, 0.5)
    apply_init(model, nn.init.ones_)
    assert torch.all(model[0].weight == 1) and torch.all(model[0].bias == 0)
    assert torch.all(model[1].weight == 3) and torch.all(model[1].bias == 0.5)  # norm layers are skipped
    assert torch.equal(model[2].weight, frozen)  # frozen layers are skipped


def test_apply_init_goes_through_parametrizations():
    model = ConvLayer(3, 4, norm_type=NormType.Weight, act_cls=None)
    apply_init(model, nn.init.ones_)
    assert torch.allclose(model[0].weight, torch.ones(4, 3, 3, 3))


def test_trunc_normal_bounds_and_spread():
    x = trunc_normal_(torch.empty(200_000), mean=1.0, std=0.5)
    assert x.min() >= 0.0 and x.max() <= 2.0
    assert x.mean().item() == pytest.approx(1.0, abs=0.01)
    assert x.std().item() == pytest.approx(0.5 * 0.8796, rel=0.02)  # a normal cut at +-2 std
