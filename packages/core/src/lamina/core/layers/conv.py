"""`ConvLayer`: a 1-, 2- or 3-d (optionally transposed) convolution with normalisation and activation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

from lamina.core.layers.init import init_linear
from lamina.core.layers.norm import BatchNorm, InstanceNorm, NormType, coerce_norm_type
from lamina.core.layers.recorded import RecordedInit
from lamina.core.plugins.registry import register_class

__all__ = ["ConvLayer", "conv_class"]

_CONVS = {
    (1, False): nn.Conv1d,
    (2, False): nn.Conv2d,
    (3, False): nn.Conv3d,
    (1, True): nn.ConvTranspose1d,
    (2, True): nn.ConvTranspose2d,
    (3, True): nn.ConvTranspose3d,
}


def conv_class(ndim: int = 2, transpose: bool = False) -> type[nn.Module]:
    """The PyTorch convolution class for `ndim` spatial dimensions (transposed or not)."""
    if ndim not in (1, 2, 3):
        raise ValueError(f"conv_class: ndim must be 1, 2 or 3, got {ndim!r}")
    return _CONVS[ndim, bool(transpose)]


def _check_channels(where: str, ni: Any, nf: Any, groups: Any) -> None:
    for name, value in (("ni", ni), ("nf", nf), ("groups", groups)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{where}: {name} must be a positive int, got {value!r}")
    if ni % groups or nf % groups:
        raise ValueError(f"{where}: groups={groups} must divide both ni={ni} and nf={nf}")


@register_class("lamina.core.ConvLayer")
class ConvLayer(RecordedInit, nn.Sequential):
    """Convolution, then normalisation and activation (in the order `bn_1st` says), then `xtra`.

    `padding=None` keeps the size for odd `ks` (`(ks - 1) // 2`; 0 for a transposed conv). `bias=None`
    gives the conv a bias only when no batch/instance norm follows it. `norm_type` is a `NormType`
    (or its name) or None; `Weight`/`Spectral` reparametrize the conv's weight
    (`torch.nn.utils.parametrizations`). Weights use `init` ('auto': chosen from the activation,
    see `lamina.core.layers.init`), the bias normal(0, `bias_std`). Extra keywords (`groups`,
    `dilation`, `padding_mode`, ...) go to the conv.
    """

    def __init__(
        self,
        ni: int,
        nf: int,
        ks: int | tuple[int, ...] = 3,
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] | str | None = None,
        bias: bool | None = None,
        ndim: int = 2,
        norm_type: NormType | str | None = NormType.Batch,
        bn_1st: bool = True,
        act_cls: Callable[[], nn.Module] | None = nn.ReLU,
        transpose: bool = False,
        init: str | Callable | None = "auto",
        xtra: nn.Module | None = None,
        bias_std: float | None = 0.01,
        **kwargs: Any,
    ) -> None:
        where = f"ConvLayer(ni={ni!r}, nf={nf!r})"
        _check_channels(where, ni, nf, kwargs.get("groups", 1))
        if ndim not in (1, 2, 3):
            raise ValueError(f"{where}: ndim must be 1, 2 or 3, got {ndim!r}")
        norm_type = coerce_norm_type(norm_type, where)
        if padding is None:
            padding = 0 if transpose else _same_padding(ks)
        batch = norm_type in (NormType.Batch, NormType.BatchZero)
        instance = norm_type in (NormType.Instance, NormType.InstanceZero)
        if bias is None:
            bias = not (batch or instance)
        conv = conv_class(ndim, transpose)(
            ni, nf, kernel_size=ks, stride=stride, padding=padding, bias=bias, **kwargs
        )
        act = None if act_cls is None else act_cls()
        init_linear(conv, act, init=init, bias_std=bias_std)
        if norm_type is NormType.Weight:
            conv = weight_norm(conv)
        elif norm_type is NormType.Spectral:
            conv = spectral_norm(conv)
        after: list[nn.Module] = []
        if act is not None:
            after.append(act)
        if batch:
            after.append(BatchNorm(nf, ndim=ndim, norm_type=norm_type))
        if instance:
            after.append(InstanceNorm(nf, ndim=ndim, norm_type=norm_type))
        if bn_1st:
            after.reverse()
        super().__init__(conv, *after, *([xtra] if xtra is not None else []))


def _same_padding(ks: int | tuple[int, ...]) -> int | tuple[int, ...]:
    return tuple((k - 1) // 2 for k in ks) if isinstance(ks, tuple) else (ks - 1) // 2
