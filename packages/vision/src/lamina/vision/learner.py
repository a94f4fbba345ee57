"""`vision_learner` (alias `cnn_learner`) and `unet_learner`: a `Learner` for images in one call.

Both take the architecture as a factory (`resnet34`), a built model, or a name (`"resnet34"`, looked up
among lamina-vision's architectures, then in the plugins' `architectures` registry). The architecture's
metadata (`arch_meta`, or the `ArchitectureSpec` of a registered one) says where to cut the body, how to
split the model into parameter groups (body stages, then head) and which statistics its pretrained
weights expect. With `pretrained=True` the weights come from the local cache by name, checked by sha256
(`lamina.vision.models.weights`; downloaded once when online, else an error says where to put the
file), the body is frozen (`learn.freeze()`: only the head trains) and, with `normalize=True`, a
`Normalize` with the weights' statistics joins the batch transforms of every loader (unless one is
there already).

What is not given is read from one batch of the data: the number of input channels `n_in` (the first
convolution is adapted to it, see `adapt_first_conv`), the number of outputs `n_out` (classes, mask
codes, or the size of a regression target) and, for the U-Net, the image size.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lamina.core.data.transforms import Normalize
from lamina.core.learner.learner import Learner
from lamina.core.optim.optimizers import Adam
from lamina.core.plugins import registry
from lamina.core.plugins.registry import RegistryKeyError
from lamina.vision.arch_meta import (
    ArchMeta,
    arch_meta,
    create_unet_model,
    create_vision_model,
    default_split,
    model_meta,
)
from lamina.vision.core import TensorImage

__all__ = ["resolve_arch", "vision_learner", "cnn_learner", "unet_learner"]

Stats = tuple[Sequence[float], Sequence[float]]


# ---- the architecture ----------------------------------------------------------------------------------
def _local_archs() -> dict[str, Callable[..., nn.Module]]:
    return {f.__name__: f for f in model_meta}


def _registered_meta(arch: Any) -> ArchMeta | None:
    """The metadata of `arch` when a plugin registered it (by factory), else None."""
    for spec in registry.architectures.values():
        if spec.factory is arch:
            return ArchMeta(cut=spec.cut, split=spec.split or default_split, stats=spec.stats)
    return None


def resolve_arch(arch: Any, who: str = "vision_learner") -> tuple[Any, ArchMeta]:
    """`(factory or model, ArchMeta)` for `arch`: a factory (`resnet34`, or a `functools.partial` of one,
    which keeps the factory's metadata), a built `nn.Module`, or a name (lamina-vision's architectures
    first, then the plugins' `architectures` registry)."""
    if isinstance(arch, str):
        local = _local_archs().get(arch)
        if local is not None:
            return local, model_meta[local]
        try:
            spec = registry.architectures[arch]
        except RegistryKeyError as e:
            raise ValueError(
                f"{who}: unknown architecture {arch!r}. lamina-vision has "
                f"{', '.join(sorted(_local_archs()))}; the plugins' registry says: {e}"
            ) from None
        return spec.factory, ArchMeta(cut=spec.cut, split=spec.split or default_split, stats=spec.stats)
    if isinstance(arch, nn.Module) or callable(arch):
        base = arch
        while isinstance(base, functools.partial):  # partial(xresnet18, widen=0.5): xresnet18's metadata
            base = base.func
        meta = arch_meta(base)
        if meta.stats is None and meta.cut is None and not isinstance(base, nn.Module):
            meta = _registered_meta(base) or meta
        return arch, meta
    raise TypeError(
        f"{who}: arch must be a model factory (e.g. resnet34), a model or an architecture name, got {arch!r}"
    )


# ---- what one batch tells -------------------------------------------------------------------------------
def _peek_batch(dls: Any, who: str) -> tuple:
    """One batch, from the validation loader when it has items (no shuffling, no augmentation)."""
    loaders = [dl for dl in (_loader(dls, 1), _loader(dls, 0)) if dl is not None]
    for dl in loaders:
        try:
            if len(dl) == 0:
                continue
        except TypeError:
            pass
        b = dl.one_batch() if callable(getattr(dl, "one_batch", None)) else next(iter(dl))
        return tuple(b) if isinstance(b, (tuple, list)) else (b,)
    raise ValueError(f"{who}: the data has no batch to read the image size and channels from")


def _loader(dls: Any, i: int) -> Any:
    try:
        return dls[i]
    except (IndexError, TypeError, KeyError):
        pass
    try:
        return getattr(dls, ("train", "valid")[i], None)
    except (IndexError, AttributeError):
        return None


def _image_input(batch: tuple, who: str) -> torch.Tensor:
    x = batch[0]
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"{who}: expected batches of images shaped (bs, channels, height, width), got {shape}; pass "
            "n_in= (and for unet_learner, check the data)"
        )
    return x


def _infer_n_out(dls: Any, batch: tuple, who: str) -> int:
    """Classes (`dls.c`, the vocab), else the number of values of one regression target."""
    c = getattr(dls, "c", None)
    if c:
        return int(c)
    vocab = getattr(dls, "vocab", None)
    if vocab is not None and len(vocab):
        last = vocab[-1]
        if isinstance(last, (list, tuple)) or (hasattr(last, "__len__") and not isinstance(last, str)):
            vocab = last
        return len(vocab)
    n_inp = getattr(dls, "n_inp", 1)
    if len(batch) > n_inp and isinstance(batch[n_inp], torch.Tensor) and batch[n_inp].is_floating_point():
        return int(batch[n_inp][0].numel())
    raise ValueError(f"{who}: cannot infer the number of outputs from the data (no classes); pass n_out=")


def _check_count(who: str, name: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise ValueError(f"{who}: {name} must be a positive int or None, got {value!r}")


def _default_loss(dls: Any, batch: tuple) -> Callable | None:
    """The data's loss, else the default loss a plugin registered for the target type (None if neither)."""
    loss = getattr(dls, "loss_func", None)
    if loss is not None:
        return loss
    n_inp = getattr(dls, "n_inp", 1)
    if len(batch) <= n_inp:
        return None
    factory = registry.losses.get(type(batch[n_inp]).__name__)
    return factory() if factory is not None else None


# ---- normalisation ----------------------------------------------------------------------------------------
def _stats_for(stats: Stats, n_in: int) -> Stats | None:
    """The weights' statistics for `n_in` channels: as they are, averaged for one channel, else None."""
    mean, std = list(stats[0]), list(stats[1])
    if len(mean) == n_in:
        return mean, std
    if n_in == 1:
        return [sum(mean) / len(mean)], [sum(std) / len(std)]
    return None


def _pipelines(dls: Any) -> list[Any]:
    """The distinct `after_batch` pipelines of the loaders, each with the first loader that holds it."""
    seen: dict[int, Any] = {}
    for dl in dls:
        pipe = getattr(dl, "after_batch", None)
        if pipe is not None and hasattr(pipe, "fs"):
            seen.setdefault(id(pipe), (pipe, dl))
    return list(seen.values())


def _add_norm(dls: Any, stats: Stats | None, pretrained: bool, n_in: int, who: str) -> bool:
    """Add a `Normalize` with the pretrained weights' `stats` to the batch transforms of `dls` when the
    weights are used and no `Normalize` is there; returns whether one was added."""
    if not pretrained or stats is None:
        return False
    pipes = _pipelines(dls)
    if not pipes:
        warnings.warn(
            f"{who}: the data loaders have no batch-transform pipeline, so the inputs are not "
            "normalised with the pretrained weights' statistics; normalise them yourself",
            stacklevel=3,
        )
        return False
    if any(isinstance(t, Normalize) for pipe, _ in pipes for t in pipe.fs):
        return False
    fitted = _stats_for(stats, n_in)
    if fitted is None:  # the weights' stats do not fit n_in channels: measured on the training data instead
        norm = Normalize(tensor_type=TensorImage)
    else:
        norm = Normalize.from_stats(*fitted, cuda=False, tensor_type=TensorImage)
    for pipe, dl in pipes:  # one transform shared by every loader, like the other batch transforms
        pipe.add([norm], dl)
    return True


# ---- the learners -----------------------------------------------------------------------------------------
def _finish(
    who: str,
    dls: Any,
    model: nn.Module,
    *,
    arch: Any,
    meta: ArchMeta,
    batch: tuple,
    n_in: int,
    n_out: int,
    splitter: Callable | None,
    loss_func: Callable | None,
    normalize: bool,
    pretrained: bool,
    learner_kwargs: dict[str, Any],
) -> Learner:
    """The `Learner` on `model`: normalisation added, the architecture's split, frozen when pretrained."""
    if normalize:
        _add_norm(dls, meta.stats, pretrained, n_in, who)
    learn = Learner(
        dls,
        model,
        loss_func=loss_func if loss_func is not None else _default_loss(dls, batch),
        splitter=splitter if splitter is not None else meta.split,
        **learner_kwargs,
    )
    if pretrained:
        learn.freeze()
    learn.arch, learn.n_out, learn.pretrained, learn.normalize = arch, n_out, pretrained, normalize
    return learn


def vision_learner(
    dls: Any,
    arch: Any,
    normalize: bool = True,
    n_out: int | None = None,
    pretrained: bool = True,
    loss_func: Callable | None = None,
    opt_func: Callable = Adam,
    lr: float | slice = 1e-3,
    splitter: Callable | None = None,
    cbs: Any = None,
    metrics: Any = None,
    path: str | Path | None = None,
    model_dir: str | Path = "models",
    wd: float | None = None,
    wd_bn_bias: bool = False,
    train_bn: bool = True,
    moms: tuple[float, float, float] = (0.95, 0.85, 0.95),
    cut: int | Callable | None = None,
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
    n_in: int | None = None,
) -> Learner:
    """A `Learner` for transfer learning on images: the body of `arch` (cut by its metadata, or `cut`)
    with a new head (`create_head` with the head arguments, or `custom_head`) giving `n_out` outputs.

    `arch`: a factory (`resnet34`), a model, or a registered name (`"resnet34"`). `pretrained`: load the
    weights (from the cache, sha256-checked) and freeze the body. `normalize`: add the weights' `Normalize`
    to the batch transforms (only when pretrained). `n_in`/`n_out`: read from the data when None. The
    parameter groups come from the architecture's split unless `splitter` is given; the other arguments
    go to `Learner`. The learner keeps `arch`, `n_out`, `pretrained` and `normalize` as attributes."""
    who = "vision_learner"
    _check_count(who, "n_out", n_out)
    _check_count(who, "n_in", n_in)
    factory, meta = resolve_arch(arch, who)
    batch = _peek_batch(dls, who)
    if n_in is None:
        n_in = int(_image_input(batch, who).shape[1])
    if n_out is None:
        n_out = _infer_n_out(dls, batch, who)
    model = create_vision_model(
        factory,
        n_out,
        pretrained=pretrained,
        cut=cut if cut is not None else meta.cut,
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
    learner_kwargs = dict(
        opt_func=opt_func,
        lr=lr,
        cbs=cbs,
        metrics=metrics,
        path=path,
        model_dir=model_dir,
        wd=wd,
        wd_bn_bias=wd_bn_bias,
        train_bn=train_bn,
        moms=moms,
    )
    built = dict(arch=arch, meta=meta, batch=batch, n_in=n_in, n_out=n_out)
    return _finish(
        who,
        dls,
        model,
        **built,
        splitter=splitter,
        loss_func=loss_func,
        normalize=normalize,
        pretrained=pretrained,
        learner_kwargs=learner_kwargs,
    )


cnn_learner = vision_learner
"""The paper's name for `vision_learner`."""


def unet_learner(
    dls: Any,
    arch: Any,
    normalize: bool = True,
    n_out: int | None = None,
    pretrained: bool = True,
    config: Mapping[str, Any] | None = None,
    loss_func: Callable | None = None,
    opt_func: Callable = Adam,
    lr: float | slice = 1e-3,
    splitter: Callable | None = None,
    cbs: Any = None,
    metrics: Any = None,
    path: str | Path | None = None,
    model_dir: str | Path = "models",
    wd: float | None = None,
    wd_bn_bias: bool = False,
    train_bn: bool = True,
    moms: tuple[float, float, float] = (0.95, 0.85, 0.95),
    cut: int | Callable | None = None,
    n_in: int | None = None,
    **kwargs: Any,
) -> Learner:
    """A `Learner` for segmentation: a `DynamicUnet` on the body of `arch`, with `n_out` output channels
    (default: the number of mask codes), built for the image size of the data.

    `config` and `kwargs` are `DynamicUnet` keywords (`blur`, `blur_final`, `self_attention`, `y_range`,
    `last_cross`, `bottle`, `act_cls`, `init`, `norm_type`); the others are `vision_learner`'s."""
    who = "unet_learner"
    _check_count(who, "n_out", n_out)
    _check_count(who, "n_in", n_in)
    if config is not None and not isinstance(config, Mapping):
        raise TypeError(f"{who}: config must be a mapping of DynamicUnet keywords, got {config!r}")
    unet_kwargs = {**(config or {}), **kwargs}
    factory, meta = resolve_arch(arch, who)
    batch = _peek_batch(dls, who)
    x = _image_input(batch, who)
    if n_in is None:
        n_in = int(x.shape[1])
    if n_out is None:
        n_out = _infer_n_out(dls, batch, who)
    img_size = tuple(int(s) for s in x.shape[-2:])
    model = create_unet_model(
        factory,
        n_out,
        img_size,
        pretrained=pretrained,
        cut=cut if cut is not None else meta.cut,
        n_in=n_in,
        **unet_kwargs,
    )
    learner_kwargs = dict(
        opt_func=opt_func,
        lr=lr,
        cbs=cbs,
        metrics=metrics,
        path=path,
        model_dir=model_dir,
        wd=wd,
        wd_bn_bias=wd_bn_bias,
        train_bn=train_bn,
        moms=moms,
    )
    built = dict(arch=arch, meta=meta, batch=batch, n_in=n_in, n_out=n_out)
    return _finish(
        who,
        dls,
        model,
        **built,
        splitter=splitter,
        loss_func=loss_func,
        normalize=normalize,
        pretrained=pretrained,
        learner_kwargs=learner_kwargs,
    )
