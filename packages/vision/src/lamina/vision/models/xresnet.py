"""XResNet: the ResNet of "Bag of Tricks for Image Classification" (He et al., 2018) as fastai builds it.

A stem of three 3x3 convolutions (the first strided) instead of one 7x7, ResNet-D shortcuts (average
pooling before the 1x1 conv, in `lamina.core.layers.ResBlock`), the last norm of each residual branch
starting at zero, and He-normal initialisation. Options: 1-, 2- or 3-d (`ndim`), any activation
(`act_cls`, e.g. `Mish`), squeeze-excitation (`reduction`), grouped (ResNeXt, `groups`) and
depth-wise (`dw=True`) convolutions, simple self-attention (`sa`), width multiplier `widen`,
dropout `p` before the classifier. The layers are children in order: stem convs, max pool, one
`nn.Sequential` per stage, then pool/flatten/dropout/linear, so the body is everything but the last
four (`cut=-4`). The model records its constructor arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import nn
from torch.nn.utils import parametrize

from lamina.core.basics.meta import delegates
from lamina.core.layers.basic import Flatten
from lamina.core.layers.conv import ConvLayer
from lamina.core.layers.pooling import AdaptiveAvgPool, MaxPool
from lamina.core.layers.recorded import register_function
from lamina.core.layers.resblock import ResBlock
from lamina.core.plugins.registry import register_class
from lamina.vision.models.sequential import RecordedSequential
from lamina.vision.models.weights import load_pretrained

__all__ = [
    "XResNet",
    "init_cnn",
    "xresnet18",
    "xresnet34",
    "xresnet50",
    "xresnet101",
    "xresnet152",
    "xresnet18_deep",
    "xresnet34_deep",
    "xresnet50_deep",
    "xresnet18_deeper",
    "xresnet34_deeper",
    "xresnet50_deeper",
    "xse_resnet18",
    "xse_resnet34",
    "xse_resnet50",
    "xse_resnet101",
    "xse_resnet152",
    "xresnext18",
    "xresnext34",
    "xresnext50",
    "xresnext101",
    "xse_resnext18",
    "xse_resnext34",
    "xse_resnext50",
    "xse_resnext101",
    "xse_resnext18_deep",
    "xse_resnext34_deep",
    "xse_resnext50_deep",
    "xse_resnext18_deeper",
    "xse_resnext34_deeper",
    "xse_resnext50_deeper",
]

_INIT_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def init_cnn(m: nn.Module) -> nn.Module:
    """He-normal weights for every conv and linear layer of `m` and zero for every bias (norms too).

    Weights under a parametrization (spectral or weight norm) keep the init their layer gave them.
    Norm scales are untouched, so zero-initialised residual norms stay at zero. Returns `m`.
    """
    for layer in m.modules():
        bias = getattr(layer, "bias", None)
        if isinstance(bias, nn.Parameter):
            nn.init.zeros_(bias)
        if isinstance(layer, _INIT_LAYERS) and not parametrize.is_parametrized(layer, "weight"):
            nn.init.kaiming_normal_(layer.weight)
    return m


@register_class("lamina.vision.XResNet")
class XResNet(RecordedSequential):
    """An XResNet of `block`s (`ResBlock`) with `expansion` (1: basic, 4: bottleneck) and `layers` per stage.

    Stage widths are 64, 128, 256, 512 (times `widen`), then 256 for any further stage; the stem has
    the widths `stem_szs` (its last width must be a multiple of `expansion`). `ks` is the kernel size
    (odd), `stride` the downsampling of the stem, the pool and each stage after the first. `sa` adds
    self-attention to the last block of the fourth-from-last stage. Extra keywords (`groups`,
    `reduction`, `dw`, `norm_type`, ...) go to every block.
    """

    @delegates(ResBlock.__init__)
    def __init__(
        self,
        block: Callable[..., nn.Module],
        expansion: int,
        layers: Sequence[int],
        p: float = 0.0,
        c_in: int = 3,
        n_out: int = 1000,
        stem_szs: Sequence[int] = (32, 32, 64),
        widen: float = 1.0,
        sa: bool = False,
        act_cls: Callable[..., nn.Module] = nn.ReLU,
        ndim: int = 2,
        ks: int = 3,
        stride: int = 2,
        **kwargs: Any,
    ) -> None:
        where = f"XResNet(expansion={expansion!r}, layers={layers!r})"
        layers = _positive_ints(where, "layers", layers)
        stem_szs = _positive_ints(where, "stem_szs", stem_szs)
        for name, value in (("expansion", expansion), ("c_in", c_in), ("n_out", n_out), ("stride", stride)):
            _positive_ints(where, name, [value])
        if not isinstance(ks, int) or ks <= 0 or ks % 2 == 0:
            raise ValueError(f"{where}: the kernel size ks must be a positive odd int, got {ks!r}")
        if not (isinstance(widen, (int, float)) and widen > 0):
            raise ValueError(f"{where}: widen must be a positive number, got {widen!r}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{where}: dropout p must be in [0, 1], got {p!r}")
        if stem_szs[-1] % expansion:
            raise ValueError(
                f"{where}: the stem's last width {stem_szs[-1]} must be a multiple of expansion={expansion}"
            )
        szs = [c_in, *stem_szs]
        stem = [
            ConvLayer(szs[i], szs[i + 1], ks=ks, stride=stride if i == 0 else 1, act_cls=act_cls, ndim=ndim)
            for i in range(len(stem_szs))
        ]
        widths = [int(w * widen) for w in [64, 128, 256, 512] + [256] * max(0, len(layers) - 4)]
        widths = [stem_szs[-1] // expansion, *widths[: len(layers)]]
        sa_stage = len(layers) - 4
        stages = [
            nn.Sequential(
                *[
                    block(
                        expansion,
                        widths[i] if j == 0 else widths[i + 1],
                        widths[i + 1],
                        stride=(1 if i == 0 else stride) if j == 0 else 1,
                        sa=sa and i == sa_stage and j == n_blocks - 1,
                        act_cls=act_cls,
                        ndim=ndim,
                        ks=ks,
                        **kwargs,
                    )
                    for j in range(n_blocks)
                ]
            )
            for i, n_blocks in enumerate(layers)
        ]
        super().__init__(
            *stem,
            MaxPool(ks=ks, stride=stride, padding=ks // 2, ndim=ndim),
            *stages,
            AdaptiveAvgPool(1, ndim=ndim),
            Flatten(),
            nn.Dropout(p),
            nn.Linear(widths[-1] * expansion, n_out),
        )
        init_cnn(self)


def _positive_ints(where: str, name: str, values: Any) -> list[int]:
    try:
        values = list(values)
    except TypeError:
        raise TypeError(f"{where}: {name} must be a sequence of ints, got {values!r}") from None
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
        raise ValueError(f"{where}: {name} must be positive ints, got {values!r}")
    return values


def _xresnet(name: str, pretrained: bool, expansion: int, layers: list[int], **kwargs: Any) -> XResNet:
    if not isinstance(pretrained, bool):
        raise TypeError(f"{name}: pretrained must be a bool, got {pretrained!r} (pass n_out=... by keyword)")
    model = XResNet(ResBlock, expansion, layers, **kwargs)
    if pretrained:
        load_pretrained(model, name)
    return model


def _factory(name: str, expansion: int, layers: list[int], doc: str, **preset: Any) -> Callable[..., XResNet]:
    """Make the public factory `name(pretrained=False, **kwargs)` for one XResNet configuration."""

    def factory(pretrained: bool = False, **kwargs: Any) -> XResNet:
        return _xresnet(name, pretrained, expansion, layers, **{**preset, **kwargs})

    factory.__name__ = factory.__qualname__ = name
    factory.__module__ = __name__
    factory.__doc__ = (
        f"{doc} `pretrained=True` needs weights registered under {name!r} "
        "(`lamina.vision.models.weights.register_weights`); keywords go to `XResNet`."
    )
    return register_function(f"lamina.vision.{name}")(factory)


_G0, _G1, _G2, _G3 = [2, 2, 2, 2], [3, 4, 6, 3], [3, 4, 23, 3], [3, 8, 36, 3]
_SE = dict(groups=1, reduction=16)
_SE_X = dict(groups=32, reduction=16)
_X = dict(groups=32, reduction=None)

xresnet18 = _factory("xresnet18", 1, _G0, "XResNet-18.")
xresnet34 = _factory("xresnet34", 1, _G1, "XResNet-34.")
xresnet50 = _factory("xresnet50", 4, _G1, "XResNet-50 (bottleneck blocks).")
xresnet101 = _factory("xresnet101", 4, _G2, "XResNet-101 (bottleneck blocks).")
xresnet152 = _factory("xresnet152", 4, _G3, "XResNet-152 (bottleneck blocks).")
xresnet18_deep = _factory("xresnet18_deep", 1, _G0 + [1, 1], "XResNet-18 with two extra one-block stages.")
xresnet34_deep = _factory("xresnet34_deep", 1, _G1 + [1, 1], "XResNet-34 with two extra one-block stages.")
xresnet50_deep = _factory("xresnet50_deep", 4, _G1 + [1, 1], "XResNet-50 with two extra one-block stages.")
xresnet18_deeper = _factory(
    "xresnet18_deeper", 1, [2, 2, 1, 1, 1, 1, 1, 1], "XResNet-18 variant with eight stages."
)
xresnet34_deeper = _factory(
    "xresnet34_deeper", 1, _G1 + [1, 1, 1, 1], "XResNet-34 with four extra one-block stages."
)
xresnet50_deeper = _factory(
    "xresnet50_deeper", 4, _G1 + [1, 1, 1, 1], "XResNet-50 with four extra one-block stages."
)
xse_resnet18 = _factory("xse_resnet18", 1, _G0, "XResNet-18 with squeeze-excitation.", **_SE)
xse_resnet34 = _factory("xse_resnet34", 1, _G1, "XResNet-34 with squeeze-excitation.", **_SE)
xse_resnet50 = _factory("xse_resnet50", 4, _G1, "XResNet-50 with squeeze-excitation.", **_SE)
xse_resnet101 = _factory("xse_resnet101", 4, _G2, "XResNet-101 with squeeze-excitation.", **_SE)
xse_resnet152 = _factory("xse_resnet152", 4, _G3, "XResNet-152 with squeeze-excitation.", **_SE)
xresnext18 = _factory("xresnext18", 1, _G0, "XResNeXt-18 (32 groups).", **_X)
xresnext34 = _factory("xresnext34", 1, _G1, "XResNeXt-34 (32 groups).", **_X)
xresnext50 = _factory("xresnext50", 4, _G1, "XResNeXt-50 (32 groups).", **_X)
xresnext101 = _factory("xresnext101", 4, _G2, "XResNeXt-101 (32 groups).", **_X)
xse_resnext18 = _factory("xse_resnext18", 1, _G0, "XResNeXt-18 with squeeze-excitation.", **_SE_X)
xse_resnext34 = _factory("xse_resnext34", 1, _G1, "XResNeXt-34 with squeeze-excitation.", **_SE_X)
xse_resnext50 = _factory("xse_resnext50", 4, _G1, "XResNeXt-50 with squeeze-excitation.", **_SE_X)
xse_resnext101 = _factory("xse_resnext101", 4, _G2, "XResNeXt-101 with squeeze-excitation.", **_SE_X)
xse_resnext18_deep = _factory(
    "xse_resnext18_deep", 1, _G0 + [1, 1], "SE-XResNeXt-18 with two extra stages.", **_SE_X
)
xse_resnext34_deep = _factory(
    "xse_resnext34_deep", 1, _G1 + [1, 1], "SE-XResNeXt-34 with two extra stages.", **_SE_X
)
xse_resnext50_deep = _factory(
    "xse_resnext50_deep", 4, _G1 + [1, 1], "SE-XResNeXt-50 with two extra stages.", **_SE_X
)
xse_resnext18_deeper = _factory(
    "xse_resnext18_deeper", 1, [2, 2, 1, 1, 1, 1, 1, 1], "SE-XResNeXt-18 variant with eight stages.", **_SE_X
)
xse_resnext34_deeper = _factory(
    "xse_resnext34_deeper", 1, _G1 + [1, 1, 1, 1], "SE-XResNeXt-34 with four extra stages.", **_SE_X
)
xse_resnext50_deeper = _factory(
    "xse_resnext50_deeper", 4, _G1 + [1, 1, 1, 1], "SE-XResNeXt-50 with four extra stages.", **_SE_X
)
