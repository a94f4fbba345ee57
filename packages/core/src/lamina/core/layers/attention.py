"""Attention layers: `SelfAttention` (SAGAN), `PooledSelfAttention2d` (BigGAN), `SimpleSelfAttention`
and squeeze-excitation `SEModule`. The self-attention layers start as the identity (`gamma = 0`)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from lamina.core.layers.conv import ConvLayer
from lamina.core.layers.merge import ProdLayer, SequentialEx
from lamina.core.layers.norm import NormType
from lamina.core.layers.pooling import AdaptiveAvgPool
from lamina.core.layers.recorded import RecordedInit
from lamina.core.plugins.registry import register_class

__all__ = ["SelfAttention", "PooledSelfAttention2d", "SimpleSelfAttention", "SEModule"]


def _check_channels(layer: nn.Module, x: Tensor, n_channels: int, min_dims: int = 3) -> None:
    if x.ndim < min_dims or x.shape[1] != n_channels:
        raise ValueError(
            f"{type(layer).__name__}({n_channels}): expected a batch of shape (bs, {n_channels}, ...) "
            f"with at least {min_dims} dims, got shape {tuple(x.shape)}"
        )


def _spectral_1x1(n_in: int, n_out: int, ndim: int) -> ConvLayer:
    return ConvLayer(n_in, n_out, ks=1, ndim=ndim, norm_type=NormType.Spectral, act_cls=None, bias=False)


def _need_eight(name: str, n_channels: int) -> None:
    if not isinstance(n_channels, int) or n_channels < 8 or n_channels % 8:
        raise ValueError(f"{name}: n_channels must be a positive multiple of 8, got {n_channels!r}")


@register_class("lamina.core.SelfAttention")
class SelfAttention(RecordedInit, nn.Module):
    """Self-attention over all positions (Zhang et al., SAGAN): `x + gamma * attention(x)`, gamma from 0.

    Query and key project to `n_channels // 8` channels, value keeps `n_channels`; the projections are
    spectral-normalised 1x1 convolutions. Works for any number of spatial dimensions.
    """

    def __init__(self, n_channels: int) -> None:
        super().__init__()
        _need_eight("SelfAttention", n_channels)
        self.n_channels = n_channels
        self.query = _spectral_1x1(n_channels, n_channels // 8, ndim=1)
        self.key = _spectral_1x1(n_channels, n_channels // 8, ndim=1)
        self.value = _spectral_1x1(n_channels, n_channels, ndim=1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        _check_channels(self, x, self.n_channels)
        flat = x.flatten(2)
        f, g, h = self.query(flat), self.key(flat), self.value(flat)
        beta = F.softmax(torch.bmm(f.transpose(1, 2), g), dim=1)
        return (self.gamma * torch.bmm(h, beta) + flat).view(x.shape)


@register_class("lamina.core.PooledSelfAttention2d")
class PooledSelfAttention2d(RecordedInit, nn.Module):
    """Self-attention with keys and values max-pooled 2x2 (Brock et al., BigGAN); gamma starts at 0.

    Needs a 4-d input with even height and width.
    """

    def __init__(self, n_channels: int) -> None:
        super().__init__()
        _need_eight("PooledSelfAttention2d", n_channels)
        self.n_channels = n_channels
        self.query = _spectral_1x1(n_channels, n_channels // 8, ndim=2)
        self.key = _spectral_1x1(n_channels, n_channels // 8, ndim=2)
        self.value = _spectral_1x1(n_channels, n_channels // 2, ndim=2)
        self.out = _spectral_1x1(n_channels // 2, n_channels, ndim=2)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        _check_channels(self, x, self.n_channels, min_dims=4)
        bs, _, height, width = x.shape
        if x.ndim != 4 or height % 2 or width % 2:
            raise ValueError(
                f"PooledSelfAttention2d: expected (bs, channels, height, width) with even height and width, "
                f"got shape {tuple(x.shape)}"
            )
        f = self.query(x).flatten(2)
        g = F.max_pool2d(self.key(x), 2).flatten(2)
        h = F.max_pool2d(self.value(x), 2).flatten(2)
        beta = F.softmax(torch.bmm(f.transpose(1, 2), g), dim=-1)
        o = torch.bmm(h, beta.transpose(1, 2)).view(bs, self.n_channels // 2, height, width)
        return self.gamma * self.out(o) + x


@register_class("lamina.core.SimpleSelfAttention")
class SimpleSelfAttention(RecordedInit, nn.Module):
    """Simple self-attention (Lessw2020, used in fastai's xresnet): `x + gamma * (x x^T) conv(x)`.

    `conv` is a spectral-normalised 1-d convolution (`ks`, no bias); `sym=True` makes its weight
    symmetric (`ks` must be 1). gamma starts at 0.
    """

    def __init__(self, n_in: int, ks: int = 1, sym: bool = False) -> None:
        super().__init__()
        if sym and ks != 1:
            raise ValueError(f"SimpleSelfAttention: sym=True needs ks=1, got ks={ks!r}")
        self.n_in, self.sym = n_in, sym
        conv = nn.Conv1d(n_in, n_in, ks, padding=ks // 2, bias=False)
        nn.init.kaiming_normal_(conv.weight)
        self.conv = spectral_norm(conv)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        _check_channels(self, x, self.n_in)
        flat = x.flatten(2)
        if self.sym:
            w = self.conv.weight.view(self.n_in, self.n_in)
            convx = F.conv1d(flat, ((w + w.t()) / 2).unsqueeze(-1))
        else:
            convx = self.conv(flat)
        xxt = torch.bmm(flat, flat.transpose(1, 2))
        return (self.gamma * torch.bmm(xxt, convx) + flat).view(x.shape)


@register_class("lamina.core.SEModule")
class SEModule(SequentialEx):
    """Squeeze-excitation (Hu et al.): pool, 1x1 conv down to `ceil(ch // reduction / 8) * 8` channels,
    `act_cls`, 1x1 conv back up, sigmoid, and multiply the input by these channel gates."""

    def __init__(
        self, ch: int, reduction: int, act_cls: type[nn.Module] | None = nn.ReLU, ndim: int = 2
    ) -> None:
        if not isinstance(reduction, int) or reduction <= 0:
            raise ValueError(f"SEModule: reduction must be a positive int, got {reduction!r}")
        nh = math.ceil(ch // reduction / 8) * 8
        super().__init__(
            AdaptiveAvgPool(1, ndim=ndim),
            ConvLayer(ch, nh, ks=1, ndim=ndim, norm_type=None, act_cls=act_cls),
            ConvLayer(nh, ch, ks=1, ndim=ndim, norm_type=None, act_cls=nn.Sigmoid),
            ProdLayer(),
        )
