"""What transfer learning needs to know about each architecture, and the models built from it.

`model_meta` maps each architecture factory to its `ArchMeta`: where its body ends (`cut`, an index
into the model's children: -2 for a ResNet, before pooling and `fc`; -4 for an XResNet, before
pool/flatten/dropout/linear), how to split a model built on it into parameter groups (body stages,
then head) and the normalisation statistics its pretrained weights expect. `architecture_specs()`
gives the same as `ArchitectureSpec`s for the plugin registry.

`create_body` cuts a model to its body (adapting the first convolution to `n_in` channels),
`create_vision_model` puts a classifier head on it, `create_unet_model` a U-Net decoder. They return
models that record their constructor arguments, with `pretrained=False` in the record: the weights
travel in the state dict, so rebuilding a saved model needs no download.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lamina.core.hooks import num_features_model
from lamina.core.layers.head import create_head
from lamina.core.layers.init import apply_init
from lamina.core.plugins.registry import register_class
from lamina.core.plugins.specs import ArchitectureSpec
from lamina.vision.models import resnet, xresnet
from lamina.vision.models.sequential import RecordedSequential
from lamina.vision.models.unet import DynamicUnet

__all__ = [
    "imagenet_stats",
    "ArchMeta",
    "model_meta",
    "arch_meta",
    "architecture_specs",
    "params",
    "default_split",
    "resnet_split",
    "xresnet_split",
    "adapt_first_conv",
    "VisionBody",
    "VisionModel",
    "create_body",
    "create_vision_model",
    "create_unet_model",
]

Stats = tuple[list[float], list[float]]
Cut = int | Callable[[nn.Module], nn.Module] | None

imagenet_stats: Stats = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
"""The per-channel mean and standard deviation of ImageNet, which the pretrained weights expect."""

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_POOL_NAME = re.compile(r"Pool[123]d$")


def params(m: nn.Module) -> list[nn.Parameter]:
    """The parameters of `m`, as a list."""
    return list(m.parameters())


def default_split(m: nn.Module) -> list[list[nn.Parameter]]:
    """Two groups: the body `m[0]`, and everything after it."""
    return [params(m[0]), params(m[1:])]


def resnet_split(m: nn.Module) -> list[list[nn.Parameter]]:
    """Three groups for a ResNet body `m[0]`: stem to `layer2`, `layer3`-`layer4`, then the head `m[1:]`."""
    return [params(m[0][:6]), params(m[0][6:]), params(m[1:])]


def xresnet_split(m: nn.Module) -> list[list[nn.Parameter]]:
    """Three groups for an XResNet body `m[0]`: the three stem convs, the stages, then the head `m[1:]`."""
    return [params(m[0][:3]), params(m[0][3:]), params(m[1:])]


@dataclass(frozen=True)
class ArchMeta:
    """Where an architecture's body ends (`cut`), its parameter-group `split` and its input `stats`."""

    cut: Cut
    split: Callable[[nn.Module], list[list[nn.Parameter]]]
    stats: Stats | None = None


_RESNET_META = ArchMeta(cut=-2, split=resnet_split, stats=imagenet_stats)
_XRESNET_META = ArchMeta(cut=-4, split=xresnet_split, stats=imagenet_stats)
_DEFAULT_META = ArchMeta(cut=None, split=default_split, stats=None)

model_meta: dict[Callable[..., nn.Module], ArchMeta] = {
    **{getattr(resnet, name): _RESNET_META for name in resnet.__all__ if name[0].islower()},
    **{getattr(xresnet, name): _XRESNET_META for name in xresnet.__all__ if name.startswith("x")},
}
"""Architecture factory -> its `ArchMeta`. Add an entry to teach `create_body` a new architecture."""


def arch_meta(arch: Any) -> ArchMeta:
    """The `ArchMeta` of `arch` (a factory, or a model built by one); a default for unknown ones
    (cut at the last child holding a pooling layer, split into body and head, no stats)."""
    try:
        meta = model_meta.get(arch)
    except TypeError:  # unhashable: not a factory
        meta = None
    if meta is not None:
        return meta
    if isinstance(arch, xresnet.XResNet):
        return _XRESNET_META
    if isinstance(arch, resnet.ResNet):
        return _RESNET_META
    return _DEFAULT_META


def architecture_specs() -> dict[str, ArchitectureSpec]:
    """Every architecture of lamina-vision as an `ArchitectureSpec`, by name (for the plugin hook)."""
    return {
        factory.__name__: ArchitectureSpec(factory, cut=meta.cut, split=meta.split, stats=meta.stats)
        for factory, meta in model_meta.items()
    }


# ------------------------------------------------------------------------------------------------ body


def _first_conv(model: nn.Module) -> tuple[nn.Module, str, nn.Module]:
    for name, m in model.named_modules():
        if isinstance(m, _CONVS):
            parent, _, attr = name.rpartition(".")
            return model.get_submodule(parent), attr, m
    raise ValueError(
        f"{type(model).__name__} has no convolution layer, so its input channels cannot be adapted"
    )


def _adapted_weight(weight: torch.Tensor, n_in: int) -> torch.Tensor:
    """Map a conv kernel over `c` input channels to `n_in` channels, keeping its sum over channels.

    Fewer channels: input channel `i` is folded into `i % n_in` (one channel gets the sum of all).
    More channels: new channel `j` copies old channel `j % c`, divided by the number of copies of
    that channel. Either way an input with the same value on every channel gives the same output
    as before.
    """
    c = weight.shape[1]
    if n_in < c:
        out = weight.new_zeros(weight.shape[0], n_in, *weight.shape[2:])
        for i in range(c):
            out[:, i % n_in] += weight[:, i]
        return out
    idx = torch.arange(n_in, device=weight.device) % c
    copies = torch.bincount(idx, minlength=c).to(weight.dtype)
    return weight[:, idx] / copies[idx].view(1, n_in, *([1] * (weight.ndim - 2)))


def adapt_first_conv(model: nn.Module, n_in: int, pretrained: bool = True) -> nn.Module:
    """Make the first convolution of `model` take `n_in` channels (in place); returns `model`.

    With `pretrained`, the new kernel is derived from the old one (see `_adapted_weight`: summed or
    repeated, so a grey image still gives the same features); otherwise it is freshly initialised.
    """
    if not isinstance(n_in, int) or isinstance(n_in, bool) or n_in <= 0:
        raise ValueError(f"adapt_first_conv: n_in must be a positive int, got {n_in!r}")
    parent, attr, conv = _first_conv(model)
    if conv.in_channels == n_in:
        return model
    if conv.groups != 1:
        raise ValueError(
            f"adapt_first_conv: the first convolution of {type(model).__name__} is grouped "
            f"(groups={conv.groups}), so its input channels cannot be changed to {n_in}"
        )
    new = type(conv)(
        n_in,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
    )
    if pretrained:
        with torch.no_grad():
            new.weight.copy_(_adapted_weight(conv.weight, n_in))
            if conv.bias is not None:
                new.bias.copy_(conv.bias)
    setattr(parent, attr, new)
    return model


def _has_pool(m: nn.Module) -> bool:
    return any(_POOL_NAME.search(type(sub).__name__) for sub in m.modules())


def _default_cut(model: nn.Module) -> int:
    children = list(model.children())
    idx = next((i for i in reversed(range(len(children))) if _has_pool(children[i])), None)
    if idx is None:
        raise ValueError(
            f"create_body: cannot tell where the body of {type(model).__name__} ends (no child holds a "
            "pooling layer); pass cut= (an index into its children, or a function returning the body)"
        )
    return idx


def _build(arch: Any, pretrained: bool) -> nn.Module:
    if isinstance(arch, nn.Module):
        return arch
    if not callable(arch):
        raise TypeError(
            f"expected an architecture (a model factory such as resnet34, or a model), got {arch!r}"
        )
    if isinstance(arch, type) and issubclass(arch, nn.Module):
        return arch()
    return arch(pretrained=pretrained)


@register_class("lamina.vision.VisionBody")
class VisionBody(RecordedSequential):
    """The body of `arch` (a factory called with `pretrained`, or a built model): its children up to `cut`.

    `cut` is an index into the model's children (default: the architecture's, see `arch_meta`, else
    the last child holding a pooling layer) or a function returning the body, which then is the
    only layer. The first convolution is adapted to `n_in` channels (`adapt_first_conv`). `arch_kwargs` go
    to the factory (`create_body` records a `functools.partial` arch this way, by registered name).
    """

    def __init__(
        self,
        arch: Any,
        n_in: int = 3,
        pretrained: bool = False,
        cut: Cut = None,
        arch_kwargs: dict[str, Any] | None = None,
    ) -> None:
        arch = functools.partial(arch, **arch_kwargs) if arch_kwargs else arch
        model = adapt_first_conv(_build(arch, pretrained), n_in, pretrained)
        cut = arch_meta(arch).cut if cut is None else cut
        if cut is None:
            cut = _default_cut(model)
        if isinstance(cut, int) and not isinstance(cut, bool):
            layers = list(model.children())[:cut]
        elif callable(cut):
            layers = [cut(model)]
        else:
            raise TypeError(f"create_body: cut must be an int, a function or None, got {cut!r}")
        if not layers:
            raise ValueError(f"create_body: cut={cut!r} leaves no layer of {type(model).__name__}")
        super().__init__(*layers)


def _record_not_pretrained(model: nn.Module) -> nn.Module:
    """Record `pretrained=False` (the weights travel in the state dict) and a `functools.partial` arch as the
    function plus `arch_kwargs`, so that the model is described by registered names (`export`)."""
    recorded = model.__dict__["_init_args"]
    recorded["pretrained"] = False
    arch = recorded.get("arch")
    if isinstance(arch, functools.partial) and not arch.args and "arch_kwargs" in recorded:
        recorded["arch"], recorded["arch_kwargs"] = (
            arch.func,
            {**arch.keywords, **(recorded["arch_kwargs"] or {})},
        )
    return model


def create_body(arch: Any, n_in: int = 3, pretrained: bool = True, cut: Cut = None) -> VisionBody:
    """The body of `arch` (see `VisionBody`), with pretrained weights unless `pretrained=False`."""
    return _record_not_pretrained(VisionBody(arch, n_in=n_in, pretrained=pretrained, cut=cut))


@register_class("lamina.vision.VisionModel")
class VisionModel(RecordedSequential):
    """`create_body(arch)` followed by a head: `custom_head`, or `create_head` on the body's features.

    `model[0]` is the body and `model[1]` the head. The head is initialised with `init` (None:
    left as built). The head arguments are `create_head`'s; `arch_kwargs` go to the arch factory.
    """

    def __init__(
        self,
        arch: Any,
        n_out: int,
        pretrained: bool = False,
        cut: Cut = None,
        n_in: int = 3,
        init: Callable | None = nn.init.kaiming_normal_,
        custom_head: nn.Module | None = None,
        concat_pool: bool = True,
        pool: bool = True,
        lin_ftrs: Sequence[int] | None = None,
        ps: float | Sequence[float] = 0.5,
        first_bn: bool = True,
        bn_final: bool = False,
        lin_first: bool = False,
        y_range: tuple[float, float] | None = None,
        arch_kwargs: dict[str, Any] | None = None,
    ) -> None:
        body = VisionBody(arch, n_in=n_in, pretrained=pretrained, cut=cut, arch_kwargs=arch_kwargs)
        if custom_head is None:
            head = create_head(
                num_features_model(body),
                n_out,
                lin_ftrs=lin_ftrs,
                ps=ps,
                pool=pool,
                concat_pool=concat_pool,
                first_bn=first_bn,
                bn_final=bn_final,
                lin_first=lin_first,
                y_range=y_range,
            )
        else:
            head = custom_head
        super().__init__(body, head)
        if init is not None:
            apply_init(self[1], init)


def create_vision_model(
    arch: Any,
    n_out: int,
    pretrained: bool = True,
    cut: Cut = None,
    n_in: int = 3,
    init: Callable | None = nn.init.kaiming_normal_,
    custom_head: nn.Module | None = None,
    concat_pool: bool = True,
    pool: bool = True,
    lin_ftrs: Sequence[int] | None = None,
    ps: float | Sequence[float] = 0.5,
    first_bn: bool = True,
    bn_final: bool = False,
    lin_first: bool = False,
    y_range: tuple[float, float] | None = None,
) -> VisionModel:
    """A transfer-learning model: the (pretrained) body of `arch` and a new head with `n_out` outputs."""
    model = VisionModel(
        arch,
        n_out,
        pretrained=pretrained,
        cut=cut,
        n_in=n_in,
        init=init,
        custom_head=custom_head,
        concat_pool=concat_pool,
        pool=pool,
        lin_ftrs=lin_ftrs,
        ps=ps,
        first_bn=first_bn,
        bn_final=bn_final,
        lin_first=lin_first,
        y_range=y_range,
    )
    return _record_not_pretrained(model)


def create_unet_model(
    arch: Any,
    n_out: int,
    img_size: int | tuple[int, int],
    pretrained: bool = True,
    cut: Cut = None,
    n_in: int = 3,
    **kwargs: Any,
) -> DynamicUnet:
    """A `DynamicUnet` on the (pretrained) body of `arch`; `kwargs` go to `DynamicUnet`."""
    return DynamicUnet(
        create_body(arch, n_in=n_in, pretrained=pretrained, cut=cut), n_out, img_size, **kwargs
    )
