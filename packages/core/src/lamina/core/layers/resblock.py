"""`ResBlock`: the residual block of fastai's xresnet (ResNet-D "bag of tricks" shortcut, SE, attention)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from lamina.core.basics.meta import delegates
from lamina.core.layers.attention import SEModule, SimpleSelfAttention
from lamina.core.layers.conv import ConvLayer
from lamina.core.layers.norm import NormType, coerce_norm_type
from lamina.core.layers.pooling import AvgPool
from lamina.core.layers.recorded import RecordedInit
from lamina.core.plugins.registry import register_class

__all__ = ["ResBlock"]

_ZERO_VERSION = {NormType.Batch: NormType.BatchZero, NormType.Instance: NormType.InstanceZero}


@register_class("lamina.core.ResBlock")
class ResBlock(RecordedInit, nn.Module):
    """A residual block: `act(convpath(x) + idpath(x))`.

    `expansion=1`: two `ks` convs (basic block); otherwise 1x1, `ks`, 1x1 (bottleneck), with
    `ni`/`nf` multiplied by `expansion`. `nh1`/`nh2` set the hidden widths (default `nf`). The first
    `ks` conv has the `stride` and `groups` (`dw=True`: depth-wise, one group per channel); the last
    conv has `g2` groups and a zero-initialised norm (`BatchZero`/`InstanceZero`), so the block
    starts close to its shortcut. `reduction` adds squeeze-excitation, `sa` simple self-attention
    (`sym`: symmetric). The shortcut (ResNet-D): when the stride is not 1, `pool(stride)` (average
    pooling, ceil mode); when the width changes, a 1x1 conv with batch norm and no activation;
    `pool_first` puts the pooling before that conv. Extra keywords go to every `ConvLayer`.
    """

    @delegates(ConvLayer.__init__)
    def __init__(
        self,
        expansion: int,
        ni: int,
        nf: int,
        stride: int = 1,
        groups: int = 1,
        reduction: int | None = None,
        nh1: int | None = None,
        nh2: int | None = None,
        dw: bool = False,
        g2: int = 1,
        sa: bool = False,
        sym: bool = False,
        norm_type: NormType | str | None = NormType.Batch,
        act_cls: Callable[..., nn.Module] | None = nn.ReLU,
        ndim: int = 2,
        ks: int = 3,
        pool: Callable[..., nn.Module] = AvgPool,
        pool_first: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        where = f"ResBlock(expansion={expansion!r}, ni={ni!r}, nf={nf!r})"
        for name, value in (("expansion", expansion), ("ni", ni), ("nf", nf), ("stride", stride)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{where}: {name} must be a positive int, got {value!r}")
        norm_type = coerce_norm_type(norm_type, where)
        norm_last = _ZERO_VERSION.get(norm_type, norm_type)
        nh2 = nf if nh2 is None else nh2
        nh1 = nh2 if nh1 is None else nh1
        ni, nf = ni * expansion, nf * expansion
        first = dict(norm_type=norm_type, act_cls=act_cls, ndim=ndim, **kwargs)
        last = dict(norm_type=norm_last, act_cls=None, ndim=ndim, **kwargs)
        if expansion == 1:
            convpath = [
                ConvLayer(ni, nh2, ks, stride=stride, groups=ni if dw else groups, **first),
                ConvLayer(nh2, nf, ks, groups=g2, **last),
            ]
        else:
            convpath = [
                ConvLayer(ni, nh1, 1, **first),
                ConvLayer(nh1, nh2, ks, stride=stride, groups=nh1 if dw else groups, **first),
                ConvLayer(nh2, nf, 1, groups=g2, **last),
            ]
        if reduction:
            convpath.append(SEModule(nf, reduction=reduction, act_cls=act_cls, ndim=ndim))
        if sa:
            convpath.append(SimpleSelfAttention(nf, ks=1, sym=sym))
        self.convpath = nn.Sequential(*convpath)
        idpath: list[nn.Module] = []
        if ni != nf:
            idpath.append(ConvLayer(ni, nf, 1, act_cls=None, ndim=ndim, **kwargs))
        if stride != 1:
            idpath.insert(0 if pool_first else len(idpath), pool(stride, ndim=ndim, ceil_mode=True))
        self.idpath = nn.Sequential(*idpath)
        if act_cls is None:
            self.act: nn.Module = nn.Identity()
        else:
            self.act = nn.ReLU(inplace=True) if act_cls is nn.ReLU else act_cls()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.convpath(x) + self.idpath(x))
