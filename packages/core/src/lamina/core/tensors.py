"""Semantic tensors: `torch.Tensor` subclasses that keep their type and metadata through torch ops.

`TensorBase(x, **meta)` wraps a tensor (no copy), an array, a list or a scalar; its metadata are plain
instance attributes. Results of torch functions and methods on a `TensorBase` are of the same subclass
and carry a (shallow) copy of its metadata. When one op mixes different `TensorBase` subclasses the
result takes the MORE SPECIFIC class (a subclass beats its base, e.g. `TensorBase + TensorImage ->
TensorImage`); between unrelated subclasses the FIRST typed argument's class wins. The metadata come from
the first argument of the winning class. Plain-tensor arguments never change the result type.

Semantic types serve transforms, decoding and showing; the batch that reaches a model should be plain:
`as_plain(batch)`. Helpers: `retain_type`, `retain_types`, `cast`, `tensor`, `to_device`, `to_cpu`,
`to_detach`, `to_float`, `to_half`, `default_device`.

Design note (speed, public API only): a subclass `__torch_function__` is unavoidable for keeping types,
and the stock `torch.Tensor.__torch_function__` is slow (pure-Python bookkeeping around the private
"disable subclass" switch). `TensorBase` instead runs the op on PLAIN aliases of its typed arguments
(`Tensor.as_subclass(x, torch.Tensor)`, which never re-enters `__torch_function__`) and re-types the
result with one `as_subclass`. The plain alias of a typed tensor is cached on it (a slot, never part of
the metadata) when it does not require grad. Ops whose meaning depends on the typed object itself
(autograd leaf state: `.grad`, `requires_grad_`, `is_leaf`, hooks; in-place shape changes such as
`resize_`, `unsqueeze_`, `set_`; attribute setters; `out=`; autograd entry points) go through the stock
path, which runs on the real object, and drop the cached alias. `shape`/`dtype`/`device`/`ndim` are read
off the alias without entering `__torch_function__` at all.

Cost (`benchmarks/bench_tensors.py`): a typed op pays for entering `__torch_function__` plus one
`as_subclass`, about 2 us per op on CPU. That is within ~10% of a subclass that merely unwraps and calls
the op (the floor for any public-API design) and 6-17% faster than the stock design; on CPU ops of
1-4 us it is 2-3.6x a plain op, so the 1.5x goal is out of reach there with public APIs (CUDA: 1.4-1.6x).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "TensorBase",
    "TensorCategory",
    "TensorMultiCategory",
    "retain_type",
    "retain_types",
    "retain_meta",
    "cast",
    "tensor",
    "as_plain",
    "to_device",
    "to_cpu",
    "to_detach",
    "to_float",
    "to_half",
    "default_device",
]

_as_subclass = Tensor.as_subclass  # an "ignored" torch function: never dispatches to __torch_function__


def _stock_path_functions() -> frozenset:
    """Tensor functions that must run on the typed object itself rather than on a plain alias."""
    funcs: set = set()
    for name in dir(Tensor):
        attr = getattr(Tensor, name, None)
        if type(attr).__name__ == "getset_descriptor" or isinstance(attr, property):
            for op in ("__set__", "__delete__"):  # every attribute setter changes the object itself
                if hasattr(attr, op):
                    funcs.add(getattr(attr, op))
    for name in ("grad", "_grad", "is_leaf", "grad_fn", "_grad_fn", "_base", "retains_grad", "requires_grad",
                 "output_nr", "_backward_hooks", "_post_accumulate_grad_hooks"):  # fmt: skip
        attr = getattr(Tensor, name, None)
        if attr is not None:
            funcs.add(attr.__get__)
    for name in ("requires_grad_", "retain_grad", "register_hook", "register_post_accumulate_grad_hook",
                 "detach_", "resize_", "resize_as_", "set_", "as_strided_", "squeeze_", "unsqueeze_", "t_",
                 "transpose_", "swapdims_", "swapaxes_", "rename_", "share_memory_", "__setstate__",
                 "__reduce_ex__", "__deepcopy__", "_is_view", "sparse_resize_",
                 "sparse_resize_and_clear_", "__hash__", "__repr__"):  # fmt: skip
        attr = getattr(Tensor, name, None)
        if attr is not None:
            funcs.add(attr)
    # autograd entry points name graph nodes by object: they must see the typed tensors themselves
    funcs.update({Tensor.backward, torch.autograd.backward, torch.autograd.grad})
    return frozenset(funcs)


_STOCK_PATH = _stock_path_functions()
_SCALAR_RESULTS = frozenset({bool, int, float, complex, str, torch.Size, torch.dtype, torch.device})
_NO_RETYPE = frozenset({Tensor.tolist, Tensor.numpy, Tensor.__array__, Tensor.stride, Tensor.size})
_grad_enabled = torch.is_grad_enabled


def _plain_of(x: TensorBase) -> Tensor:
    """A plain `torch.Tensor` alias of typed `x` (same storage, shape, strides and autograd graph).

    Cached on `x` unless `x` requires grad (ops must then go through `x` itself, so that hooks and
    `retain_grad` on `x` see them). Made with grad enabled so that, under `no_grad`, the alias of a tensor
    that requires grad still shows `requires_grad` (and is not cached).
    """
    try:
        p = x._lamina_plain
    except AttributeError:  # made by a bare `as_subclass` elsewhere: the slot is not set yet
        p = None
    if p is None:
        if _grad_enabled():
            p = _as_subclass(x, Tensor)
        else:
            with torch.enable_grad():
                p = _as_subclass(x, Tensor)
        x._lamina_plain = None if p.requires_grad else p
    return p


def _unwrap(a: Any) -> Any:
    """`a` with typed tensors replaced by their plain aliases (one level into lists and tuples)."""
    if isinstance(a, TensorBase):
        return _plain_of(a)
    if a.__class__ is list or a.__class__ is tuple:
        return a.__class__([_plain_of(o) if isinstance(o, TensorBase) else o for o in a])
    return a


def _source_of(cls: type, args: Sequence, kwargs: Mapping | None) -> TensorBase | None:
    """The first argument of class `cls` (looking one level into lists/tuples, then into kwargs)."""
    for a in args:
        if a.__class__ is cls:
            return a
        if a.__class__ is list or a.__class__ is tuple:
            for o in a:
                if o.__class__ is cls:
                    return o
    for a in (kwargs or {}).values():
        if a.__class__ is cls:
            return a
    return None


def _typed_result(res: Tensor, cls: type, src: TensorBase | None) -> TensorBase:
    out = _as_subclass(res, cls)
    out._lamina_plain = None if res.requires_grad else res
    if src is not None:
        meta = src.__dict__
        if meta:
            out.__dict__.update(meta)
    return out


def _retype(res: Any, cls: type, src: TensorBase | None, first: Tensor | None, typed_first: Any) -> Any:
    """Re-type the plain tensors in `res` as `cls` with a copy of `src`'s metadata; `first`, the plain
    alias of the first argument, maps back to that argument (`typed_first`: in-place ops return self)."""
    rc = res.__class__
    if rc is Tensor:
        return typed_first if res is first else _typed_result(res, cls, src)
    if rc is tuple or rc is list:
        return rc([_retype(o, cls, src, first, typed_first) for o in res])
    if isinstance(res, tuple) and rc is not torch.Size and hasattr(rc, "n_fields"):  # torch.return_types
        return rc([_retype(o, cls, src, first, typed_first) for o in res])
    return res


class TensorBase(Tensor):
    """A `torch.Tensor` subclass whose type and metadata (instance attributes) survive torch ops.

    `TensorBase(x, **meta)`: `x` a tensor (shared, not copied; a typed `x` also lends its metadata), a numpy
    array (shared when possible), a list or a scalar. Survives arithmetic, indexing, `.to()`, `.cpu()`,
    `clone`, `torch.cat`/`torch.stack`, `copy.deepcopy`, pickling and `torch.save`/`torch.load`.

    `torch.load(..., weights_only=True)` refuses typed tensors: its restricted unpickler only rebuilds
    allow-listed globals, and a typed tensor is stored as a call to `lamina.core.tensors._rebuild_typed`
    with its class. Load such files with `weights_only=False` (trusted files only), wrap the load in
    `torch.serialization.safe_globals([_rebuild_typed, YourTensorClass, ...])`, or save `as_plain(x)`.

    Mixed-type rule: see the module docstring (more specific subclass wins, else the first argument's).
    """

    __slots__ = ("_lamina_plain",)

    def __new__(cls, x: Any = None, **meta: Any) -> TensorBase:
        if x is None:
            raise TypeError(f"{cls.__name__}() needs data: a tensor, an array, a list or a scalar")
        for k in meta:
            if hasattr(Tensor, k):
                raise ValueError(
                    f"{cls.__name__}(): metadata name `{k}` would hide torch.Tensor.{k}; rename it"
                )
        inherited = dict(x.__dict__) if isinstance(x, TensorBase) else {}
        if not isinstance(x, Tensor):
            try:
                x = torch.as_tensor(x)
            except (TypeError, ValueError, RuntimeError) as e:
                raise TypeError(f"{cls.__name__}(): cannot make a tensor from {type(x).__name__}: {e}") from e
        res = _as_subclass(x, cls)
        res._lamina_plain = None
        res.__dict__.update(inherited)
        res.__dict__.update(meta)
        return res

    def __init__(self, x: Any = None, **meta: Any):  # everything happens in __new__
        pass

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in _STOCK_PATH or (kwargs and "out" in kwargs):
            return _stock_path(cls, func, args, kwargs)
        plain_args = [_plain_of(a) if isinstance(a, TensorBase) else _unwrap(a) for a in args]
        if kwargs:
            res = func(*plain_args, **{k: _unwrap(v) for k, v in kwargs.items()})
        else:
            res = func(*plain_args)
        if res.__class__ is Tensor:  # the common case, inlined
            a0 = args[0] if args else None
            if plain_args and res is plain_args[0]:  # in-place op: return the typed object itself
                return a0
            return _typed_result(res, cls, a0 if a0.__class__ is cls else _source_of(cls, args, kwargs))
        if res is None or res.__class__ in _SCALAR_RESULTS or func in _NO_RETYPE:
            return res
        a0 = args[0] if args else None
        src = a0 if a0.__class__ is cls else _source_of(cls, args, kwargs)
        return _retype(res, cls, src, plain_args[0] if plain_args else None, a0)

    # Hot metadata read straight off the plain alias (same impl data), skipping `__torch_function__`.
    @property
    def shape(self) -> torch.Size:
        return _plain_of(self).shape

    @property
    def dtype(self) -> torch.dtype:
        return _plain_of(self).dtype

    @property
    def device(self) -> torch.device:
        return _plain_of(self).device

    @property
    def ndim(self) -> int:
        return _plain_of(self).ndim

    def __format__(self, spec: str) -> str:
        plain = _plain_of(self)
        return plain.item().__format__(spec) if plain.dim() == 0 else object.__format__(self, spec)

    def __hash__(self) -> int:
        return id(self)

    def __iter__(self):
        if self.dim() == 0:
            raise TypeError(f"iteration over a 0-d {type(self).__name__}")
        return iter(self.unbind(0))

    def __reduce_ex__(self, protocol: int):
        plain = _as_subclass(self, Tensor)
        return _rebuild_typed, (type(self), plain, dict(self.__dict__))

    def __deepcopy__(self, memo: dict) -> TensorBase:
        if id(self) in memo:
            return memo[id(self)]
        plain = _as_subclass(self, Tensor)
        requires_grad = plain.requires_grad
        if requires_grad and not self.is_leaf:
            raise RuntimeError(
                f"deepcopy of a {type(self).__name__} that is not a graph leaf: only tensors created by the "
                "user support deepcopy (as in torch); detach() it first"
            )
        data = copy.deepcopy(
            plain.detach(), memo
        )  # torch's deepcopy: storage shared with other copies in memo
        res = _as_subclass(data.requires_grad_(requires_grad), type(self))
        res._lamina_plain = None
        grad = self.grad if requires_grad else None
        if grad is not None:
            res.grad = copy.deepcopy(grad, memo)
        memo[id(self)] = res
        res.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return res


def _stock_path(cls: type, func, args: Sequence, kwargs: Mapping | None) -> Any:
    """Run `func` on the typed objects themselves via the stock `torch.Tensor.__torch_function__`."""
    for a in args[:1]:
        if isinstance(a, TensorBase):
            a._lamina_plain = None
    if kwargs and isinstance(kwargs.get("out"), TensorBase):
        kwargs["out"]._lamina_plain = None
    res = super(TensorBase, cls).__torch_function__(func, (Tensor,), args, kwargs)
    if isinstance(res, TensorBase) and not any(res is a for a in args):
        res._lamina_plain = None
        src = _source_of(cls, args, kwargs)
        if src is not None and src.__dict__ and res is not src:
            for k, v in src.__dict__.items():
                res.__dict__.setdefault(k, v)
    return res


def _rebuild_typed(cls: type, plain: Tensor, meta: dict) -> TensorBase:
    """Unpickling helper: re-type `plain` as `cls` with metadata `meta`."""
    res = _as_subclass(plain, cls)
    res._lamina_plain = None
    res.__dict__.update(meta)
    return res


class TensorCategory(TensorBase):
    """Integer class index (or indices) of a single-label target."""


class TensorMultiCategory(TensorCategory):
    """Multi-label target: a one-hot/multi-hot vector or a list of class indices."""


def retain_meta(new: Any, old: Any) -> Any:
    """Copy the metadata of `old` that `new` lacks onto `new` (both typed tensors); returns `new`."""
    if isinstance(new, TensorBase) and isinstance(old, TensorBase) and old.__dict__:
        for k, v in old.__dict__.items():
            new.__dict__.setdefault(k, v)
    return new


def cast(x: Any, typ: type) -> Any:
    """Re-type tensor `x` as `typ` (a `torch.Tensor` subclass, or `torch.Tensor` to strip the type),
    keeping its data (no copy) and metadata. Non-tensors are converted with `typ(x)` when `typ` is not a
    tensor class."""
    if not isinstance(typ, type):
        raise TypeError(f"cast(): `typ` must be a class, got {typ!r}")
    if isinstance(x, Tensor) and issubclass(typ, Tensor):
        if type(x) is typ:
            return x
        res = _as_subclass(x, typ)
        if isinstance(res, TensorBase) and isinstance(x, TensorBase) and x.__dict__:
            res.__dict__.update(x.__dict__)
        return res
    if issubclass(typ, Tensor):
        return typ(x) if issubclass(typ, TensorBase) else _as_subclass(torch.as_tensor(x), typ)
    return typ(x)


def retain_type(new: Any, old: Any = None, typ: type | None = None) -> Any:
    """Give tensor `new` the type of `old` (or the explicit `typ`), copying `old`'s metadata it lacks.

    Typical use: a transform computed a plain tensor from a `TensorImage` input; `retain_type(result,
    input)` makes it a `TensorImage` again. With `old` (an object or a class), `new` is re-typed only when
    `type(old)` is a subclass of `type(new)`, so a result that is already more specific, or of an
    unrelated type, keeps its type (an unrelated one gets no metadata either). An explicit `typ`
    re-types `new` unless it is already a `typ`. Non-tensors are returned unchanged.
    """
    if not isinstance(new, Tensor):
        return new
    if typ is None:
        if old is None:
            return new
        typ = old if isinstance(old, type) else type(old)
        if not issubclass(typ, type(new)):  # already more specific (keeps `old`'s metadata) or unrelated
            return retain_meta(new, old) if isinstance(new, typ) else new
    elif not isinstance(typ, type) or not issubclass(typ, Tensor):
        raise TypeError(f"retain_type(): `typ` must be a torch.Tensor subclass, got {typ!r}")
    if not isinstance(new, typ):
        new = cast(new, typ)
    return retain_meta(new, old)


def retain_types(new: Sequence, old: Sequence | None = None, typs: Sequence | None = None) -> tuple:
    """`retain_type` element-wise over tuples (recursing into nested tuples/lists)."""
    if not isinstance(new, (tuple, list)):
        return retain_type(new, old, typs)
    n = len(new)
    olds = old if old is not None else (None,) * n
    typs = typs if typs is not None else (None,) * n
    if len(olds) != n or len(typs) != n:
        raise ValueError(f"retain_types(): got {n} new items but {len(olds)} old items / {len(typs)} types")
    out = []
    for nw, o, t in zip(new, olds, typs):
        if isinstance(nw, (tuple, list)):
            out.append(retain_types(nw, o, t))
        else:
            out.append(retain_type(nw, o, t))
    return tuple(out)


def tensor(x: Any, *rest: Any, **kwargs: Any) -> Tensor:
    """Like `torch.tensor`, but `tensor(1, 2, 3)` works, tensors pass through (no copy), and a list of
    arrays or tensors is stacked. Keyword arguments go to `torch.as_tensor` (`dtype`, `device`)."""
    if rest:
        x = (x, *rest)
    if isinstance(x, Tensor) and not kwargs:
        return x
    if isinstance(x, (list, tuple)) and x and all(isinstance(o, (Tensor, np.ndarray)) for o in x):
        items = [torch.as_tensor(o) for o in x]
        shapes = {tuple(o.shape) for o in items}
        if len(shapes) > 1:
            raise ValueError(f"tensor(): cannot stack items of different shapes {sorted(shapes)}")
        res = torch.stack(items)
        return res.to(**kwargs) if kwargs else res
    try:
        return torch.as_tensor(x, **kwargs)
    except (TypeError, ValueError, RuntimeError) as e:
        raise TypeError(f"tensor(): cannot make a tensor from {type(x).__name__}: {e}") from e


def _apply(f, x: Any) -> Any:
    """Apply `f` to every tensor in `x`, recursing into lists, tuples (incl. namedtuples) and dicts."""
    if isinstance(x, Tensor):
        return f(x)
    if isinstance(x, dict):
        return type(x)((k, _apply(f, v)) for k, v in x.items())
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*(_apply(f, o) for o in x))
    if isinstance(x, (list, tuple)):
        return type(x)(_apply(f, o) for o in x)
    return x


def default_device(use: bool | None = None) -> torch.device:
    """The device batches go to: CUDA if available, else Apple MPS, else CPU (`use=False` forces CPU)."""
    if use is False:
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def to_device(b: Any, device: torch.device | str | None = None, non_blocking: bool = False) -> Any:
    """Move every tensor in `b` (nested lists/tuples/dicts) to `device` (default: `default_device()`)."""
    device = default_device() if device is None else torch.device(device)
    return _apply(lambda t: t.to(device, non_blocking=non_blocking), b)


def to_cpu(b: Any) -> Any:
    """Move every tensor in `b` to the CPU."""
    return _apply(lambda t: t.cpu(), b)


def to_detach(b: Any, cpu: bool = True) -> Any:
    """Detach every tensor in `b` from the autograd graph (and move it to the CPU when `cpu`)."""
    return _apply(lambda t: t.detach().cpu() if cpu else t.detach(), b)


def to_float(b: Any) -> Any:
    """Cast every floating-point tensor in `b` to float32 (integer tensors are left alone)."""
    return _apply(lambda t: t.float() if t.is_floating_point() else t, b)


def to_half(b: Any) -> Any:
    """Cast every floating-point tensor in `b` to float16 (integer tensors are left alone)."""
    return _apply(lambda t: t.half() if t.is_floating_point() else t, b)


def as_plain(x: Any) -> Any:
    """Strip tensor subclasses: every tensor in `x` (nested lists/tuples/dicts) becomes a plain
    `torch.Tensor` sharing its data. The batch that reaches a model goes through this."""
    return _apply(lambda t: t if type(t) is Tensor else _as_subclass(t, Tensor), x)
