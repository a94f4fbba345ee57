"""Weight initialisation: `trunc_normal_`, `init_default`, `init_linear`, `apply_init`, `icnr_init`.

Which initialiser `init='auto'` picks for a layer followed by an activation: the activation class's
`__default_init__` attribute if it has one, else the table `DEFAULT_INITS` (ReLU-like activations,
Mish and SiLU/Swish -> `kaiming_uniform_`), else none (the layer keeps PyTorch's own init). Weights
under a parametrization (weight or spectral norm) are initialised through it, so the stored
tensors stay consistent.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from lamina.core.layers.recorded import register_function

__all__ = [
    "DEFAULT_INITS",
    "NORM_LAYERS",
    "trunc_normal_",
    "default_init_for",
    "init_default",
    "init_linear",
    "apply_init",
    "icnr_init",
]

InitFunc = Callable[[Tensor], object]

DEFAULT_INITS: dict[type, InitFunc] = {
    nn.ReLU: nn.init.kaiming_uniform_,
    nn.ReLU6: nn.init.kaiming_uniform_,
    nn.LeakyReLU: nn.init.kaiming_uniform_,
    nn.Mish: nn.init.kaiming_uniform_,
    nn.SiLU: nn.init.kaiming_uniform_,
}
"""Activation class -> initialiser for the layer before it; subclasses match (MRO order)."""

NORM_LAYERS: tuple[type, ...] = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.LayerNorm,
    nn.GroupNorm,
)
"""Layers that `apply_init` leaves alone."""


@register_function("lamina.core.trunc_normal_")
def trunc_normal_(x: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill `x` in place from a normal(mean, std) truncated to [mean - 2 std, mean + 2 std]."""
    return nn.init.trunc_normal_(x, mean=mean, std=std, a=mean - 2 * std, b=mean + 2 * std)


def default_init_for(act: nn.Module | type | None) -> InitFunc | None:
    """The initialiser `init='auto'` uses for a layer followed by `act` (instance or class), or None."""
    if act is None:
        return None
    cls = act if isinstance(act, type) else type(act)
    own = getattr(cls, "__default_init__", None)
    if own is not None:
        return own
    return next((DEFAULT_INITS[c] for c in cls.__mro__ if c in DEFAULT_INITS), None)


def _init_weight(m: nn.Module, func: InitFunc) -> None:
    with torch.no_grad():
        if parametrize.is_parametrized(m, "weight"):
            fresh = torch.empty_like(m.weight)
            func(fresh)
            m.weight = fresh  # goes through the parametrization's right_inverse
        else:
            func(m.weight)


@register_function("lamina.core.init_default")
def init_default(m: nn.Module, func: InitFunc | None = nn.init.kaiming_normal_) -> nn.Module:
    """Initialise `m.weight` with `func` (if both exist) and zero `m.bias`; returns `m`."""
    if func is not None and isinstance(getattr(m, "weight", None), Tensor):
        _init_weight(m, func)
    bias = getattr(m, "bias", None)
    if isinstance(bias, Tensor):
        with torch.no_grad():
            bias.zero_()
    return m


def init_linear(
    m: nn.Module,
    act: nn.Module | None = None,
    init: str | InitFunc | None = "auto",
    bias_std: float | None = 0.01,
) -> None:
    """Initialise a linear or conv layer followed by `act`.

    The bias is drawn from normal(0, bias_std) (zeroed when `bias_std == 0`, left alone when None);
    the weight uses `init`: a function, None (PyTorch's default init), or 'auto' (`default_init_for(act)`).
    """
    bias = getattr(m, "bias", None)
    if isinstance(bias, Tensor) and bias_std is not None:
        with torch.no_grad():
            if bias_std == 0:
                bias.zero_()
            else:
                bias.normal_(0, bias_std)
    if isinstance(init, str):
        if init != "auto":
            raise ValueError(f"init_linear: init must be 'auto', None or a function, got {init!r}")
        init = default_init_for(act)
    if init is not None:
        _init_weight(m, init)


def apply_init(m: nn.Module, init_func: InitFunc = nn.init.kaiming_normal_) -> None:
    """`init_default(layer, init_func)` on every layer of `m` with trainable weights, except normalisation."""
    for layer in m.modules():
        if isinstance(layer, NORM_LAYERS):
            continue
        first = next(layer.parameters(recurse=False), None)
        if first is not None and first.requires_grad:
            init_default(layer, init_func)


def icnr_init(weight: Tensor, scale: int = 2, init: InitFunc = nn.init.kaiming_normal_) -> Tensor:
    """An ICNR kernel shaped like `weight` (out, in, *k): each group of `scale**2` output rows is equal.

    A `nn.PixelShuffle(scale)` after the conv then starts as a nearest-neighbour upsampling of an
    ordinary conv, free of checkerboard artefacts (Aitken et al., 2017).
    """
    n_sub = scale**2
    n_out = weight.shape[0]
    if n_out % n_sub:
        raise ValueError(f"icnr_init: {n_out} output channels are not a multiple of scale**2 = {n_sub}")
    base = init(weight.new_zeros(n_out // n_sub, *weight.shape[1:]))
    return base.repeat_interleave(n_sub, dim=0)
