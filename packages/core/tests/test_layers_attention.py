"""Self-attention layers (identity at start, their formulas) and PixelShuffle_ICNR."""

import pytest
import torch
from torch import nn

from lamina.core.layers.attention import PooledSelfAttention2d, SelfAttention, SimpleSelfAttention
from lamina.core.layers.init import icnr_init
from lamina.core.layers.norm import NormType
from lamina.core.layers.upsample import PixelShuffle_ICNR


@pytest.mark.parametrize("size", [(2, 16, 5, 5), (2, 16, 7), (2, 16, 3, 3, 3)])
def test_self_attention_starts_as_identity(size):
    layer = SelfAttention(16)
    x = torch.randn(size)
    assert layer.gamma.item() == 0
    assert torch.equal(layer(x), x)


def test_self_attention_formula_and_gamma_is_learnable():
    layer = SelfAttention(16).eval()
    with torch.no_grad():
        layer.gamma.fill_(0.5)
    x = torch.randn(2, 16, 3, 4)
    flat = x.flatten(2)
    f, g, h = layer.query(flat), layer.key(flat), layer.value(flat)
    beta = torch.softmax(f.transpose(1, 2) @ g, dim=1)
    assert torch.allclose(layer(x), (0.5 * (h @ beta) + flat).view_as(x), atol=1e-5)
    layer.train()
    layer(x).sum().backward()
    assert layer.gamma.grad is not None and layer.gamma.grad.abs().item() > 0


def test_self_attention_errors():
    with pytest.raises(ValueError, match="n_channels must be a positive multiple of 8"):
        SelfAttention(12)
    with pytest.raises(ValueError, match=r"SelfAttention\(16\): expected a batch of shape \(bs, 16, ...\)"):
        SelfAttention(16)(torch.randn(2, 8, 4, 4))


def test_pooled_self_attention_identity_then_shape():
    layer = PooledSelfAttention2d(16)
    x = torch.randn(2, 16, 6, 4)
    assert torch.equal(layer(x), x)
    with torch.no_grad():
        layer.gamma.fill_(1.0)
    out = layer(x)
    assert out.shape == x.shape and not torch.allclose(out, x)
    with pytest.raises(ValueError, match="even height and width"):
        layer(torch.randn(2, 16, 5, 4))


@pytest.mark.parametrize("sym", [False, True])
def test_simple_self_attention_formula(sym):
    layer = SimpleSelfAttention(8, sym=sym).eval()
    x = torch.randn(2, 8, 3, 3)
    assert torch.equal(layer(x), x)
    with torch.no_grad():
        layer.gamma.fill_(0.1)
    flat = x.flatten(2)
    w = layer.conv.weight.detach().view(8, 8)
    if sym:
        w = (w + w.t()) / 2
    expected = 0.1 * (flat @ flat.transpose(1, 2)) @ (w @ flat) + flat
    assert torch.allclose(layer(x), expected.view_as(x), atol=1e-4)


def test_simple_self_attention_sym_needs_ks_1():
    with pytest.raises(ValueError, match="sym=True needs ks=1"):
        SimpleSelfAttention(8, ks=3, sym=True)
    assert SimpleSelfAttention(8, ks=3)(torch.randn(2, 8, 10)).shape == (2, 8, 10)


def test_icnr_init_repeats_each_kernel_over_its_subpixel_group():
    kernel = icnr_init(torch.empty(12, 5, 1, 1), scale=2)
    groups = kernel.view(3, 4, 5, 1, 1)
    assert torch.equal(groups, groups[:, :1].expand_as(groups))
    assert not torch.equal(groups[0, 0], groups[1, 0])
    with pytest.raises(ValueError, match="not a multiple of scale"):
        icnr_init(torch.empty(10, 5, 1, 1), scale=2)


@pytest.mark.parametrize("norm_type", [NormType.Weight, NormType.Spectral, NormType.Batch, None])
def test_pixel_shuffle_icnr_shape_and_equal_subpixels(norm_type):
    layer = PixelShuffle_ICNR(8, 4, scale=2, norm_type=norm_type)
    conv = layer[0][0]
    w = conv.weight.detach()
    assert w.shape == (16, 8, 1, 1)
    assert torch.allclose(w.view(4, 4, 8), w.view(4, 4, 8)[:, :1].expand(4, 4, 8))
    out = layer(torch.randn(2, 8, 5, 6))
    assert out.shape == (2, 4, 10, 12)
    top_left = out[:, :, 0::2, 0::2]
    for dy, dx in ((0, 1), (1, 0), (1, 1)):
        assert torch.allclose(out[:, :, dy::2, dx::2], top_left, atol=1e-5)


def test_pixel_shuffle_icnr_defaults_blur_and_scale():
    layer = PixelShuffle_ICNR(6)
    assert isinstance(layer[1], nn.PixelShuffle)
    assert layer(torch.randn(1, 6, 4, 4)).shape == (1, 6, 8, 8)
    blurred = PixelShuffle_ICNR(6, 3, blur=True)
    assert isinstance(blurred[-2], nn.ReplicationPad2d) and isinstance(blurred[-1], nn.AvgPool2d)
    assert blurred(torch.randn(1, 6, 4, 4)).shape == (1, 3, 8, 8)
    assert PixelShuffle_ICNR(4, 2, scale=3)(torch.randn(1, 4, 2, 2)).shape == (1, 2, 6, 6)
    assert torch.all(layer[0][0].bias == 0)  # bias_std=0: a zero bias
