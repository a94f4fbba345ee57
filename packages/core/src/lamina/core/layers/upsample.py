"""`PixelShuffle_ICNR`: sub-pixel upsampling with ICNR initialisation (no checkerboard at the start)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils import parametrize

from lamina.core.layers.conv import ConvLayer
from lamina.core.layers.init import icnr_init
from lamina.core.layers.norm import NormType
from lamina.core.layers.recorded import RecordedInit
from lamina.core.plugins.registry import register_class

__all__ = ["PixelShuffle_ICNR"]


@register_class("lamina.core.PixelShuffle_ICNR")
class PixelShuffle_ICNR(RecordedInit, nn.Sequential):
    """Upsample by `scale`: a 1x1 `ConvLayer` to `nf * scale**2` channels, then `nn.PixelShuffle(scale)`.

    The conv starts with an ICNR kernel (each group of `scale**2` sub-pixel channels has the same
    weights), so the block starts as a nearest-neighbour upsampling of a 1x1 conv. `blur=True` adds a
    replication pad and a 2x2 stride-1 average pool (Sugawara et al.) against checkerboard artefacts.
    `nf` defaults to `ni`.
    """

    def __init__(
        self,
        ni: int,
        nf: int | None = None,
        scale: int = 2,
        blur: bool = False,
        norm_type: NormType | str | None = NormType.Weight,
        act_cls: Callable[[], nn.Module] | None = nn.ReLU,
    ) -> None:
        if not isinstance(scale, int) or scale < 1:
            raise ValueError(f"PixelShuffle_ICNR(ni={ni!r}): scale must be a positive int, got {scale!r}")
        nf = ni if nf is None else nf
        conv_layer = ConvLayer(ni, nf * scale**2, ks=1, norm_type=norm_type, act_cls=act_cls, bias_std=0)
        conv = conv_layer[0]
        with torch.no_grad():
            kernel = icnr_init(conv.weight.detach(), scale)
            if parametrize.is_parametrized(conv, "weight"):
                conv.weight = (
                    kernel  # the parametrization's right_inverse stores it (g and v for weight norm)
                )
            else:
                conv.weight.copy_(kernel)
        layers: list[nn.Module] = [conv_layer, nn.PixelShuffle(scale)]
        if blur:
            layers += [nn.ReplicationPad2d((1, 0, 1, 0)), nn.AvgPool2d(2, stride=1)]
        super().__init__(*layers)
