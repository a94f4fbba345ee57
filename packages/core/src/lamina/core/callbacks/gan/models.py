"""The networks of a GAN: `GANModule` (generator + critic, one of them run at a time) and the DCGAN
`basic_generator` / `basic_critic`."""

from __future__ import annotations

import functools
from typing import Any

from torch import Tensor, nn

from lamina.core.basics.meta import delegates
from lamina.core.layers.basic import Flatten
from lamina.core.layers.conv import ConvLayer
from lamina.core.layers.init import init_default
from lamina.core.layers.norm import NormType
from lamina.core.layers.recorded import RecordedInit
from lamina.core.plugins.registry import register_class

__all__ = ["GANModule", "AddChannels", "basic_generator", "basic_critic"]


class GANModule(nn.Module):
    """A generator and a critic; `forward` runs the generator in generator mode (`gen_mode=True`), the
    critic otherwise. `switch(gen_mode)` sets the mode (`switch()` flips it)."""

    def __init__(
        self, generator: nn.Module | None = None, critic: nn.Module | None = None, gen_mode: bool = False
    ) -> None:
        super().__init__()
        for name, part in (("generator", generator), ("critic", critic)):
            if part is not None and not isinstance(part, nn.Module):
                raise TypeError(f"GANModule: {name} must be a torch.nn.Module, got {type(part).__name__}")
        if generator is not None:
            self.generator = generator
        if critic is not None:
            self.critic = critic
        self.gen_mode = bool(gen_mode)

    def part(self, gen_mode: bool) -> nn.Module:
        """The generator (`gen_mode=True`) or the critic, with a clear error when it is missing."""
        name = "generator" if gen_mode else "critic"
        module = self._modules.get(name)
        if module is None:
            raise AttributeError(f"GANModule has no {name}: pass {name}= to GANModule(...)")
        return module

    def forward(self, *args: Any) -> Any:
        return self.part(self.gen_mode)(*args)

    def switch(self, gen_mode: bool | None = None) -> None:
        """Put the module in generator mode (`True`), critic mode (`False`), or the other mode (`None`)."""
        self.gen_mode = (not self.gen_mode) if gen_mode is None else bool(gen_mode)

    def extra_repr(self) -> str:
        return f"gen_mode={self.gen_mode}"


@register_class("lamina.core.AddChannels")
class AddChannels(RecordedInit, nn.Module):
    """Add `n_dim` trailing dimensions of size 1: a noise batch `(bs, n)` becomes `(bs, n, 1, 1)`."""

    def __init__(self, n_dim: int) -> None:
        super().__init__()
        if isinstance(n_dim, bool) or not isinstance(n_dim, int) or n_dim < 0:
            raise ValueError(f"AddChannels: n_dim must be an int >= 0, got {n_dim!r}")
        self.n_dim = n_dim

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(*x.shape, *([1] * self.n_dim))

    def extra_repr(self) -> str:
        return f"n_dim={self.n_dim}"


def _check_positive(where: str, **values: Any) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{where}: {name} must be a positive int, got {value!r}")


def _check_extra(where: str, n_extra_layers: Any) -> None:
    if isinstance(n_extra_layers, bool) or not isinstance(n_extra_layers, int) or n_extra_layers < 0:
        raise ValueError(f"{where}: n_extra_layers must be an int >= 0, got {n_extra_layers!r}")


@delegates(ConvLayer.__init__)
def basic_generator(
    out_size: int,
    n_channels: int,
    in_sz: int = 100,
    n_features: int = 64,
    n_extra_layers: int = 0,
    **kwargs: Any,
) -> nn.Sequential:
    """DCGAN generator: noise `(bs, in_sz)` -> images `(bs, n_channels, out_size, out_size)` in [-1, 1].

    A transposed convolution makes a `s x s` map from the noise, then stride-2 transposed convolutions
    double it up to `out_size`: `s` is `out_size / 2` halved while it stays even and above 4 (4 for a power
    of two, as in DCGAN; 7 for 28). The features halve at each doubling and are `n_features` at
    `out_size / 2`; `n_extra_layers` 3x3 layers come before the last one, a transposed convolution to
    `n_channels` followed by `tanh`. `kwargs` go to every `ConvLayer` (e.g. `norm_type`)."""
    where = "basic_generator"
    _check_positive(where, out_size=out_size, n_channels=n_channels, in_sz=in_sz, n_features=n_features)
    _check_extra(where, n_extra_layers)
    if out_size % 2 or out_size < 4:
        raise ValueError(
            f"{where}: out_size must be even and at least 4 (the last layer doubles), got {out_size}"
        )
    half = start = out_size // 2
    while start % 2 == 0 and start > 4:
        start //= 2
    features = n_features * (half // start)
    layers: list[nn.Module] = [
        AddChannels(2),
        ConvLayer(in_sz, features, ks=start, stride=1, padding=0, transpose=True, **kwargs),
    ]
    size = start
    while size < half:
        layers.append(ConvLayer(features, features // 2, ks=4, stride=2, padding=1, transpose=True, **kwargs))
        features, size = features // 2, size * 2
    layers += [
        ConvLayer(features, features, ks=3, stride=1, padding=1, transpose=True, **kwargs)
        for _ in range(n_extra_layers)
    ]
    layers += [nn.ConvTranspose2d(features, n_channels, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


@delegates(ConvLayer.__init__)
def basic_critic(
    in_size: int,
    n_channels: int,
    n_features: int = 64,
    n_extra_layers: int = 0,
    norm_type: NormType | str | None = NormType.Batch,
    **kwargs: Any,
) -> nn.Sequential:
    """DCGAN critic: images `(bs, n_channels, in_size, in_size)` -> one score per image `(bs, 1)`.

    Stride-2 4x4 convolutions with LeakyReLU(0.2) halve the size while it is above 4 (the first one without
    normalisation, the others with `norm_type`), doubling the features from `n_features`; `n_extra_layers`
    3x3 layers follow the first one; a last convolution as large as the remaining map gives the score.
    Any `in_size` >= 2 works (28 gives maps of 14, 7, 3). `kwargs` go to every `ConvLayer`."""
    where = "basic_critic"
    _check_positive(where, in_size=in_size, n_channels=n_channels, n_features=n_features)
    _check_extra(where, n_extra_layers)
    if in_size < 2:
        raise ValueError(f"{where}: in_size must be at least 2, got {in_size}")
    kwargs.setdefault("act_cls", functools.partial(nn.LeakyReLU, negative_slope=0.2))
    init = kwargs.get("init", nn.init.kaiming_normal_)
    layers: list[nn.Module] = [
        ConvLayer(n_channels, n_features, ks=4, stride=2, padding=1, norm_type=None, **kwargs)
    ]
    size, features = in_size // 2, n_features
    layers += [
        ConvLayer(features, features, ks=3, stride=1, norm_type=norm_type, **kwargs)
        for _ in range(n_extra_layers)
    ]
    while size > 4:
        layers.append(
            ConvLayer(features, features * 2, ks=4, stride=2, padding=1, norm_type=norm_type, **kwargs)
        )
        features, size = features * 2, size // 2
    last = nn.Conv2d(features, 1, size, padding=0)
    init_default(last, init if callable(init) else nn.init.kaiming_normal_)
    layers += [last, Flatten()]
    return nn.Sequential(*layers)
