"""`NormType` and the normalisation layer factories `BatchNorm` and `InstanceNorm`."""

from __future__ import annotations

import enum
from typing import Any

from torch import nn

from lamina.core.layers.recorded import register_function
from lamina.core.plugins.registry import register_class

__all__ = ["NormType", "BatchNorm", "InstanceNorm", "coerce_norm_type"]


@register_class("lamina.core.NormType")
class NormType(enum.Enum):
    """How a `ConvLayer` normalises.

    `Batch`/`Instance`: a norm layer after the conv; `BatchZero`/`InstanceZero`: the same with the
    scale (gamma) starting at 0, so a residual branch starts as nothing (last layer of a `ResBlock`);
    `Weight`/`Spectral`: weight or spectral normalisation of the conv's weight itself.
    """

    Batch = "Batch"
    BatchZero = "BatchZero"
    Weight = "Weight"
    Spectral = "Spectral"
    Instance = "Instance"
    InstanceZero = "InstanceZero"


def coerce_norm_type(norm_type: NormType | str | None, where: str) -> NormType | None:
    """`norm_type` as a `NormType` (its name is accepted too), or None; a clear error otherwise."""
    if norm_type is None or isinstance(norm_type, NormType):
        return norm_type
    try:
        return NormType(norm_type)
    except ValueError:
        names = ", ".join(NormType.__members__)
        raise ValueError(
            f"{where}: norm_type must be a NormType ({names}) or None, got {norm_type!r}"
        ) from None


_BATCH_NORMS = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_INSTANCE_NORMS = {1: nn.InstanceNorm1d, 2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}


def _norm_layer(
    kind: str, classes: dict[int, type], nf: int, ndim: int, zero: bool, **kwargs: Any
) -> nn.Module:
    if ndim not in classes:
        raise ValueError(f"{kind}: ndim must be 1, 2 or 3, got {ndim!r}")
    if not isinstance(nf, int) or nf <= 0:
        raise ValueError(f"{kind}: nf (number of features) must be a positive int, got {nf!r}")
    layer = classes[ndim](nf, **kwargs)
    if layer.affine:
        nn.init.constant_(layer.bias, 1e-3)
        nn.init.constant_(layer.weight, 0.0 if zero else 1.0)
    return layer


@register_function("lamina.core.BatchNorm")
def BatchNorm(nf: int, ndim: int = 2, norm_type: NormType | str = NormType.Batch, **kwargs: Any) -> nn.Module:
    """`nn.BatchNorm{ndim}d(nf)` with bias 1e-3 and weight 1 (0 for `NormType.BatchZero`)."""
    zero = coerce_norm_type(norm_type, "BatchNorm") is NormType.BatchZero
    return _norm_layer("BatchNorm", _BATCH_NORMS, nf, ndim, zero, **kwargs)


@register_function("lamina.core.InstanceNorm")
def InstanceNorm(
    nf: int, ndim: int = 2, norm_type: NormType | str = NormType.Instance, affine: bool = True, **kwargs: Any
) -> nn.Module:
    """`nn.InstanceNorm{ndim}d(nf, affine=True)` with bias 1e-3 and weight 1 (0 for `InstanceZero`)."""
    zero = coerce_norm_type(norm_type, "InstanceNorm") is NormType.InstanceZero
    return _norm_layer("InstanceNorm", _INSTANCE_NORMS, nf, ndim, zero, affine=affine, **kwargs)
