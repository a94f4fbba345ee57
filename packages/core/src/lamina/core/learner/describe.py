"""Objects as plain data: models, losses, transforms and the values they hold, described by registered names
and constructor arguments, and rebuilt from that description without importing or unpickling anything.

`to_data(value)` gives a description made only of None, bools, numbers, strings, bytes, plain CPU tensors and
one-key tagged dicts (so `torch.load(weights_only=True)` reads it back); `from_data(data)` rebuilds the value.
Tags: `{"tuple": [...]}`, `{"list": [...]}`, `{"set": [...]}`, `{"dict": [[key, value], ...]}`,
`{"L": [...]}`, `{"tensor": t}` (with `"class"` for a semantic tensor type), `{"ndarray": t}`,
`{"numpy": dtype, "value": x}`, `{"dtype": name}`, `{"device": name}`, `{"path": str, "class": name}`,
`{"slice": [start, stop, step]}`, `{"enum": class, "member": name}`, `{"class": name}`,
`{"function": name}`, `{"partial": func, "args": [...], "kwargs": {...}}`, `{"module": config}`,
`{"object": class, "args": {...}, "state": {...}, "base": {...}}`, `{"function_transform": ...}` and
`{"typed": class, "value": x}` (a str/int/float subclass such as `Category`).

What can be described:
- modules (`describe_module`): `RecordedInit` layers (their recorded constructor arguments, through
  `module_config`) and the classes of `torch.nn` (Linear, Conv2d, BatchNorm*, Sequential, LSTM, ...), whose
  arguments are read from the attributes of the same name. The description is checked by rebuilding it: the
  same layers with the same settings (`extra_repr`) and the same parameter/buffer names and shapes, so a
  model changed after construction is refused rather than exported wrong;
- classes: registered ones (`register_class`), `torch.nn` classes and standard types (int, str, Path, ...);
- functions: those of `torch.nn.functional`, `torch.nn.init`, `torch`, or registered with `register_function`;
- objects of registered classes (transforms, `CategoryMap`, labellers), as constructor arguments plus learned
  state. What to store is the class's export spec, the first of:
  1. class attributes `export_args` (names of `__init__` arguments, read from the same-named attributes) and
     `export_state` (learned attributes, set back after construction) - the way for a plugin's classes;
  2. `register_export_spec(cls, args=..., state=...)` - how the kernel describes its own transforms;
  3. inferred: each `__init__` argument the object holds as an attribute (or property); an object holding
     other public attributes is refused (they may be learned state the inference would lose).
  A spec applies to subclasses that keep the class's `__init__`.

Rebuilding only ever resolves names through the `classes` registry, `torch.nn`, the allowed function
namespaces and a fixed list of standard types, so a file cannot make Lamina import a module or run code
other than the constructors of registered classes.
"""

from __future__ import annotations

import enum
import functools
import inspect
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PosixPath, PurePath, PurePosixPath, PureWindowsPath, WindowsPath
from typing import Any

import numpy as np
import torch
from torch import nn

from lamina.core.basics.collections import L
from lamina.core.data.getters import parent_label
from lamina.core.data.transforms import (
    Categorize,
    CategoryMap,
    Cuda,
    EncodedMultiCategorize,
    MultiCategorize,
    Normalize,
    OneHotEncode,
    RegressionSetup,
    ToTensor,
)
from lamina.core.layers import recorded
from lamina.core.layers.recorded import module_config, module_from_config, register_function
from lamina.core.learner.params import trainable_params
from lamina.core.optim import optimizers
from lamina.core.optim.lookahead import ranger
from lamina.core.plugins import registry
from lamina.core.plugins.registry import register_class
from lamina.core.tensors import TensorBase, TensorCategory, TensorMultiCategory, cast
from lamina.core.transform import ItemTransform, Transform

__all__ = [
    "DescribeError",
    "RebuildError",
    "ExportSpec",
    "register_export_spec",
    "export_spec",
    "to_data",
    "from_data",
    "describe_module",
    "build_module",
    "has_decodes",
    "OmittedStep",
    "class_name",
    "resolve_class",
]

_REGISTER_HINT = (
    "To export it, make its class inherit `RecordedInit` and register it with `@register_class('pkg.Name')` "
    "(or, for a transform, register it and give it `export_args`/`export_state`); or export with "
    "`pickle_fallback=True` and load the file with `load_learner(..., trusted=True)`"
)


class DescribeError(TypeError):
    """A value that cannot be described as plain data; the message names it and says how to fix it."""


class RebuildError(ValueError):
    """A description that cannot be rebuilt here (an unknown name, a malformed entry)."""


# ---- names of classes ------------------------------------------------------------------------------------
_STANDARD_TYPES: dict[str, type] = {
    **{
        f"builtins.{t.__name__}": t
        for t in (
            object,
            int,
            float,
            complex,
            bool,
            str,
            bytes,
            list,
            tuple,
            dict,
            set,
            frozenset,
            range,
            slice,
        )
    },
    "builtins.NoneType": type(None),
    "pathlib.Path": Path,
    "pathlib.PurePath": PurePath,
    "pathlib.PosixPath": PosixPath,
    "pathlib.WindowsPath": WindowsPath,
    "pathlib.PurePosixPath": PurePosixPath,
    "pathlib.PureWindowsPath": PureWindowsPath,
    "torch.Tensor": torch.Tensor,
    "numpy.ndarray": np.ndarray,
    "numpy.generic": np.generic,
    "numpy.number": np.number,
    "numpy.integer": np.integer,
    "numpy.floating": np.floating,
    "numpy.bool_": np.bool_,
    "numpy.int64": np.int64,
    "numpy.int32": np.int32,
    "numpy.float32": np.float32,
    "numpy.float64": np.float64,
    "numpy.str_": np.str_,
    "lamina.core.L": L,
}
_STANDARD_NAMES: dict[type, str] = {t: name for name, t in _STANDARD_TYPES.items()}
_PANDAS_TYPES = ("Series", "DataFrame")  # item types of DataFrame-backed data; pandas is optional


def _pandas_type(name: str) -> type | None:
    """`pandas.Series`/`pandas.DataFrame` by name, imported only when a description names one."""
    if not name.startswith("pandas.") or name.removeprefix("pandas.") not in _PANDAS_TYPES:
        return None
    try:
        import pandas
    except ImportError:
        raise RebuildError(f"{name!r} is named by the description but pandas is not installed") from None
    return getattr(pandas, name.removeprefix("pandas."))


def _is_torch_nn_class(cls: Any) -> bool:
    return isinstance(cls, type) and getattr(nn, cls.__name__, None) is cls


def class_name(cls: type, where: str) -> str:
    """The name a description uses for `cls`: a standard type, `torch.nn.<Name>` or its registered name."""
    name = _STANDARD_NAMES.get(cls)
    if name is not None:
        return name
    if cls.__module__.split(".")[0] == "pandas" and cls.__name__ in _PANDAS_TYPES:
        return f"pandas.{cls.__name__}"
    if _is_torch_nn_class(cls):
        return f"torch.nn.{cls.__name__}"
    try:
        return registry.classes.name_of(cls)
    except registry.RegistryKeyError as e:
        raise DescribeError(f"{where}: {e}") from None


def resolve_class(name: Any, where: str) -> type:
    """The class a description names (standard types, `torch.nn` and the `classes` registry only)."""
    if not isinstance(name, str):
        raise RebuildError(f"{where}: a class is named by {name!r}, not by a string")
    if name in _STANDARD_TYPES:
        return _STANDARD_TYPES[name]
    pandas_type = _pandas_type(name)
    if pandas_type is not None:
        return pandas_type
    if name.startswith("torch.nn."):
        cls = getattr(nn, name.removeprefix("torch.nn."), None)
        if _is_torch_nn_class(cls):
            return cls
        raise RebuildError(f"{where}: {name!r} is not a class of torch.nn")
    try:
        return registry.classes[name]
    except registry.RegistryKeyError as e:
        raise RebuildError(
            f"{where}: the class {name!r} is not registered here ({e}); install the package that registers "
            "it (`lamina plugins` lists what is installed)"
        ) from None


def _function_name(f: Callable, where: str) -> str:
    try:
        return recorded._function_name(f, where)
    except TypeError:
        raise DescribeError(
            f"{where} is the function {getattr(f, '__qualname__', f)!r}, which cannot be named as data: "
            "use a function of torch.nn.functional, torch.nn.init or torch, or a module-level function "
            "decorated with `@register_function('pkg.name')`"
        ) from None


def _resolve_function(name: Any, where: str) -> Callable:
    try:
        return recorded._resolve_function(name, where)
    except KeyError:
        raise RebuildError(
            f"{where}: the function {name!r} is not registered here; install the package that registers it"
        ) from None


# ---- export specs ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExportSpec:
    """What describes an object: `args` (constructor argument names read from attributes, a function
    `obj -> {argument: value}`, or None to infer them from the signature) and `state` (learned attributes
    set back after construction). `declared` is False for an inferred spec."""

    args: tuple[str, ...] | Callable[[Any], dict[str, Any]] | None = None
    state: tuple[str, ...] = ()
    declared: bool = True


_SPECS: dict[type, ExportSpec] = {}


def register_export_spec(
    cls: type,
    args: Sequence[str] | Callable[[Any], dict[str, Any]] | None = None,
    state: Sequence[str] = (),
) -> type:
    """Say how objects of `cls` (a registered class) are described: see `ExportSpec`. Returns `cls`."""
    if not isinstance(cls, type):
        raise TypeError(f"register_export_spec: expected a class, got {cls!r}")
    _SPECS[cls] = ExportSpec(args if args is None or callable(args) else tuple(args), tuple(state))
    return cls


def export_spec(cls: type) -> ExportSpec:
    """The export spec of `cls`: its `export_args`/`export_state`, a registered spec, or an inferred one."""
    if hasattr(cls, "export_args") or hasattr(cls, "export_state"):
        args = getattr(cls, "export_args", None)
        return ExportSpec(None if args is None else tuple(args), tuple(getattr(cls, "export_state", ())))
    for c in cls.__mro__:
        spec = _SPECS.get(c)
        if spec is not None and (c is cls or cls.__init__ is c.__init__):
            return spec
    return ExportSpec(None, (), declared=False)


_TRANSFORM_OWN = ("enc", "dec", "split_idx", "order")
_BASE_KEYS = {"split_idx": "split_idx", "order": "order", "_name": "name", "_input_types": "input_types"}


def _init_params(cls: type, skip: Sequence[str]) -> list[inspect.Parameter]:
    try:
        params = list(inspect.signature(cls).parameters.values())
    except (TypeError, ValueError):
        return []
    var = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [p for p in params if p.kind not in var and p.name not in skip]


def _attribute(obj: Any, name: str) -> tuple[bool, Any]:
    """(found, value) of an instance attribute or a property named `name` (never a method)."""
    if name in getattr(obj, "__dict__", {}):
        return True, obj.__dict__[name]
    if isinstance(inspect.getattr_static(type(obj), name, None), property):
        return True, getattr(obj, name)
    return False, None


def _object_args(obj: Any, spec: ExportSpec, where: str) -> dict[str, Any]:
    if callable(spec.args):
        return dict(spec.args(obj))
    if spec.args is not None:
        return {name: getattr(obj, name) for name in spec.args}
    skip = _TRANSFORM_OWN if isinstance(obj, Transform) else ()
    args = {}
    for p in _init_params(type(obj), skip):
        found, value = _attribute(obj, p.name)
        if found:
            args[p.name] = value
        elif p.default is inspect.Parameter.empty:
            raise DescribeError(
                f"{where}: cannot tell the value of the constructor argument {p.name!r} of "
                f"{type(obj).__qualname__} (the object has no attribute {p.name!r}); give the class "
                "`export_args` (and `export_state`) or `register_export_spec`"
            )
    if not spec.declared:
        own = getattr(obj, "__dict__", {})
        extra = [k for k in own if not k.startswith("_") and k not in args and k not in _BASE_KEYS]
        if extra:
            raise DescribeError(
                f"{where}: {type(obj).__qualname__} holds the attributes {extra}, which are not constructor "
                "arguments; if they are learned state list them in the class attribute `export_state` "
                "(and the constructor arguments in `export_args`)"
            )
    return args


def _describe_object(obj: Any, where: str) -> dict[str, Any]:
    cls = type(obj)
    try:
        name = class_name(cls, where)
    except DescribeError as e:
        raise DescribeError(f"{e}. {_REGISTER_HINT}") from None
    spec = export_spec(cls)
    args = _object_args(obj, spec, where)
    described = {
        "object": name,
        "args": {k: to_data(v, f"{where}.{k}") for k, v in args.items()},
        "state": {k: to_data(getattr(obj, k), f"{where}.{k}") for k in spec.state},
    }
    if isinstance(obj, Transform):
        own = vars(obj)
        described["base"] = {
            label: to_data(own[key], f"{where}.{label}") for key, label in _BASE_KEYS.items() if key in own
        }
    return described


def _checked_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("__"):
        raise RebuildError(f"{where}: {name!r} is not a valid argument or attribute name")
    return name


def _call(cls: type, args: dict[str, Any], where: str) -> Any:
    """`cls(**args)`, passing positional-only arguments by position."""
    positional = []
    for p in _init_params(cls, ()):
        if p.kind is inspect.Parameter.POSITIONAL_ONLY and p.name in args:
            positional.append(args.pop(p.name))
    try:
        return cls(*positional, **args)
    except Exception as e:
        raise RebuildError(
            f"{where}: {cls.__qualname__}(**{sorted(args)}) failed: {type(e).__name__}: {e}"
        ) from e


def _build_object(data: dict[str, Any], where: str) -> Any:
    cls = resolve_class(data.get("object"), where)
    args = {
        _checked_name(k, where): from_data(v, f"{where}.{k}") for k, v in dict(data.get("args", {})).items()
    }
    obj = _call(cls, args, where)
    for k, v in dict(data.get("state", {})).items():
        setattr(obj, _checked_name(k, where), from_data(v, f"{where}.{k}"))
    for label, v in dict(data.get("base", {})).items():
        if label not in _BASE_KEYS.values():
            raise RebuildError(f"{where}: unknown transform setting {label!r}")
        setattr(obj, label, from_data(v, f"{where}.{label}"))
    return obj


# ---- transforms made from functions ----------------------------------------------------------------------
def _is_function_transform(obj: Any) -> bool:
    return isinstance(obj, Transform) and "_case_dispatchers" in vars(obj)


def _case_function(dispatcher: Any) -> Callable | None:
    found = list(dict.fromkeys(f for row in dispatcher.funcs.values() for f in row.values()))
    return found[0] if found else None


def _describe_function_transform(t: Transform, where: str) -> dict[str, Any]:
    kind = type(t)
    if kind not in (Transform, ItemTransform):
        raise DescribeError(f"{where}: a {kind.__qualname__} made from functions cannot be described")
    enc, dec = (_case_function(d) for d in t._case_dispatchers)
    own = vars(t)
    return {
        "function_transform": "item" if kind is ItemTransform else "plain",
        "enc": None if enc is None else _function_name(enc, f"{where} (its encodes)"),
        "dec": None if dec is None else _function_name(dec, f"{where} (its decodes)"),
        "base": {label: to_data(own[key], where) for key, label in _BASE_KEYS.items() if key in own},
    }


def _build_function_transform(data: dict[str, Any], where: str) -> Transform:
    cls = ItemTransform if data["function_transform"] == "item" else Transform
    enc = None if data.get("enc") is None else _resolve_function(data["enc"], where)
    dec = None if data.get("dec") is None else _resolve_function(data["dec"], where)
    t = cls(enc=enc, dec=dec)
    for label, v in dict(data.get("base", {})).items():
        if label not in _BASE_KEYS.values():
            raise RebuildError(f"{where}: unknown transform setting {label!r}")
        setattr(t, label, from_data(v, where))
    return t


def has_decodes(t: Transform) -> bool:
    """Whether transform `t` decodes anything (has at least one `decodes` case)."""
    return bool(t._case_dispatchers[1].input_types())


@register_class("lamina.core.OmittedStep")
class OmittedStep(Transform):
    """Stands, in a loaded pipeline, for a target-side step that was not exported: it had no `decodes`, so
    decoding predictions does not need it, but encoding through it (labelled test data) cannot work."""

    def __init__(self, step: str = "?"):
        super().__init__()
        self.step = step

    def encodes(self, x):
        raise RuntimeError(
            f"the step {self.step!r} of this pipeline was not exported (it could not be described as data "
            "and decoding does not need it), so labelled items cannot be encoded here"
        )


# ---- torch.nn modules described by their attributes ------------------------------------------------------
_RNN_EXTRA = {nn.RNN: ("nonlinearity",)}
_MISSING = object()
_ALWAYS_SKIPPED = ("device", "dtype", "mode")


def _explicit_params(cls: type) -> list[inspect.Parameter]:
    """The named `__init__` parameters of the first class in `cls`'s MRO that has some (torch's recurrent
    layers take `*args, **kwargs` and pass them on)."""
    for c in cls.__mro__:
        if "__init__" not in vars(c):
            continue
        params = _init_params(c, ("self",))
        if params:
            names = [p for p in params if p.name not in _ALWAYS_SKIPPED and not p.name.startswith("_")]
            extra = [
                inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None)
                for n in _RNN_EXTRA.get(cls, ())
            ]
            return names + extra
    return []


def _is_default(value: Any, default: Any) -> bool:
    """Whether `value` is the parameter's default (defaults are left out: some combinations of explicit
    defaults are refused, e.g. `proj_size=0` by nn.GRU)."""
    plain = (type(None), bool, int, float, str, tuple)
    return type(value) is type(default) and type(value) in plain and value == default


def _torch_nn_args(m: nn.Module, where: str) -> dict[str, Any]:
    cls = type(m)
    children = list(m.named_children())
    if cls is nn.Sequential:
        if [name for name, _ in children] != [str(i) for i in range(len(children))]:
            raise DescribeError(
                f"{where}: an nn.Sequential with named children ({[n for n, _ in children]}) cannot be "
                "described; build it from positional children"
            )
        return {"args": tuple(c for _, c in children)}
    if cls is nn.ModuleList:
        return {"modules": [c for _, c in children]}
    if cls is nn.ModuleDict:
        return {"modules": dict(children)}
    args = {}
    for p in _explicit_params(cls):
        found, value = _attribute(m, p.name)
        if not found:  # parameters, buffers (None when absent, e.g. `bias=False`) and submodules
            value = getattr(m, p.name, _MISSING)
            found = value is not _MISSING and not inspect.ismethod(value)
        if found:
            if isinstance(p.default, bool) and (value is None or isinstance(value, torch.Tensor)):
                value = value is not None  # e.g. `bias=True` stored as the bias Parameter (or None)
            elif isinstance(value, nn.Parameter):
                value = value.detach()
            if not _is_default(value, p.default):
                args[p.name] = value
        elif p.default is inspect.Parameter.empty:
            raise DescribeError(f"{where}: cannot find the value of {cls.__name__}'s argument {p.name!r}")
    return args


@contextmanager
def _torch_nn_recorded(module: nn.Module, where: str) -> Iterator[None]:
    """Give every plain `torch.nn` submodule `_init_args` read from its attributes (removed on exit), so
    that `module_config` describes them like recorded layers."""
    added = []
    try:
        for name, m in module.named_modules():
            if "_init_args" not in vars(m) and _is_torch_nn_class(type(m)):
                label = f"{where} (layer {name!r})" if name else where
                m.__dict__["_init_args"] = _torch_nn_args(m, label)
                added.append(m)
        yield
    finally:
        for m in added:
            m.__dict__.pop("_init_args", None)


def _layers(m: nn.Module) -> list[tuple[str, str, str]]:
    return [(name, type(sub).__name__, sub.extra_repr()) for name, sub in m.named_modules()]


def _shapes(m: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in m.state_dict().items()}


def _check_rebuild(module: nn.Module, config: dict[str, Any], where: str) -> None:
    try:
        rebuilt = module_from_config(
            config
        )  # on the CPU: the meta device pulls in torch's compiler (seconds)
    except Exception as e:
        raise DescribeError(
            f"{where}: rebuilding it from its description failed: {type(e).__name__}: {e}"
        ) from e
    ours, theirs = _layers(module), _layers(rebuilt)
    for a, b in zip(ours, theirs):
        if a != b:
            raise DescribeError(
                f"{where}: rebuilt from its recorded constructor arguments, layer {a[0]!r} would be "
                f"{b[1]}({b[2]}) instead of {a[1]}({a[2]}); the model was changed after it was built. "
                f"{_REGISTER_HINT}"
            )
    ours_shapes, their_shapes = _shapes(module), _shapes(rebuilt)
    if len(ours) != len(theirs) or ours_shapes != their_shapes:
        keys = sorted(set(ours_shapes) | set(their_shapes))
        diffs = [
            f"{k}: {ours_shapes.get(k, 'absent')} vs {their_shapes.get(k, 'absent')}"
            for k in keys
            if ours_shapes.get(k) != their_shapes.get(k)
        ]
        raise DescribeError(
            f"{where}: rebuilt from its description, the model has other layers or parameters "
            f"({'; '.join(diffs[:4]) or 'other layers'}); it was changed after it was built, or a layer does "
            f"not keep its constructor arguments. {_REGISTER_HINT}"
        )


def describe_module(module: nn.Module, where: str = "the model") -> dict[str, Any]:
    """The description (`module_config` format) of `module`, checked by rebuilding it."""
    with _torch_nn_recorded(module, where):
        try:
            config = module_config(module)
        except (TypeError, KeyError, ValueError) as e:
            text = str(e).replace("module_config: the model", where, 1).replace("module_config:", f"{where}:")
            raise DescribeError(f"{text}. {_REGISTER_HINT}") from None
    _check_rebuild(module, config, where)
    return config


def build_module(config: Any, where: str = "the model") -> nn.Module:
    """The module `config` describes, with fresh weights (load a state dict afterwards)."""
    try:
        return module_from_config(config)
    except registry.RegistryKeyError as e:
        raise RebuildError(
            f"{where}: {e}; install the package that registers it (`lamina plugins` lists what is installed)"
        ) from e
    except (KeyError, ValueError, TypeError) as e:
        raise RebuildError(f"{where}: {e}") from e


# ---- the codec -------------------------------------------------------------------------------------------
_SCALARS = (type(None), bool, int, float, str, bytes)
_FUNCTIONS = (types.FunctionType, types.BuiltinFunctionType, types.BuiltinMethodType)


def _seq(values: Any, where: str) -> list[Any]:
    return [to_data(v, f"{where}[{i}]") for i, v in enumerate(values)]


def to_data(value: Any, where: str = "the value") -> Any:
    """`value` as plain data (see the module docstring); raises `DescribeError` naming `where`."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if isinstance(value, enum.Enum):
        return {"enum": class_name(kind, where), "member": value.name}
    if isinstance(value, (str, int, float)) and not isinstance(value, np.generic):
        base = next(t for t in (bool, int, float, str) if isinstance(value, t))
        return {"typed": class_name(kind, where), "value": base(value)}
    if kind is L:
        return {"L": _seq(value, where)}
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return {"tuple": _seq(value, where)}
    if kind is list:
        return {"list": _seq(value, where)}
    if kind in (set, frozenset):
        return {"set": _seq(sorted(value, key=repr), where)}
    if kind is dict:
        return {"dict": [[to_data(k, where), to_data(v, f"{where}[{k!r}]")] for k, v in value.items()]}
    if isinstance(value, torch.Tensor) and not isinstance(value, nn.Parameter):
        plain = value.detach().as_subclass(torch.Tensor).cpu().clone()
        return (
            {"tensor": plain} if kind is torch.Tensor else {"tensor": plain, "class": class_name(kind, where)}
        )
    if isinstance(value, nn.Parameter):
        return {"tensor": value.detach().as_subclass(torch.Tensor).cpu().clone()}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise DescribeError(
                f"{where} is a numpy array of dtype {value.dtype}; only numeric arrays are stored"
            )
        return {"ndarray": torch.from_numpy(np.ascontiguousarray(value).copy())}
    if isinstance(value, np.generic):
        return {"numpy": value.dtype.str, "value": value.item()}
    if isinstance(value, torch.dtype):
        return {"dtype": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"device": str(value)}
    if isinstance(value, PurePath):
        return {"path": str(value), "class": class_name(kind, where)}
    if isinstance(value, slice):
        return {"slice": _seq((value.start, value.stop, value.step), where)}
    if isinstance(value, type):
        return {"class": class_name(value, where)}
    if isinstance(value, nn.Module):
        return {"module": describe_module(value, where)}
    if isinstance(value, functools.partial):
        return {
            "partial": to_data(value.func, where),
            "args": _seq(value.args, where),
            "kwargs": {k: to_data(v, f"{where}.{k}") for k, v in value.keywords.items()},
        }
    if isinstance(value, _FUNCTIONS):
        return {"function": _function_name(value, where)}
    if _is_function_transform(value):
        return _describe_function_transform(value, where)
    if isinstance(value, Mapping) or kind.__module__ == "builtins":
        raise DescribeError(f"{where} is a {kind.__qualname__}, which cannot be stored as data")
    return _describe_object(value, where)


def _tag(data: dict[str, Any]) -> str:
    for tag in (
        "object",
        "function_transform",
        "module",
        "partial",
        "typed",
        "enum",
        "numpy",
        "path",
        "tensor",
    ):
        if tag in data:
            return tag
    if len(data) == 1:
        return next(iter(data))
    return "?"


def from_data(data: Any, where: str = "the value") -> Any:
    """Rebuild the value `data` describes (the inverse of `to_data`); raises `RebuildError` naming `where`."""
    if type(data) in _SCALARS:
        return data
    if isinstance(data, torch.Tensor):  # a bare tensor (e.g. in a state dict)
        return data
    if not isinstance(data, dict):
        raise RebuildError(f"{where}: {type(data).__name__} is not part of a description")
    tag = _tag(data)
    if tag == "tuple":
        return tuple(from_data(v, where) for v in data["tuple"])
    if tag == "list":
        return [from_data(v, where) for v in data["list"]]
    if tag == "L":
        return L([from_data(v, where) for v in data["L"]], use_list=True)
    if tag == "set":
        return {from_data(v, where) for v in data["set"]}
    if tag == "dict":
        return {from_data(k, where): from_data(v, where) for k, v in data["dict"]}
    if tag == "tensor":
        t = data["tensor"]
        return t if "class" not in data else cast(t, resolve_class(data["class"], where))
    if tag == "ndarray":
        return data["ndarray"].numpy()
    if tag == "numpy":
        return np.dtype(data["numpy"]).type(data["value"])
    if tag == "dtype":
        dtype = getattr(torch, str(data["dtype"]), None)
        if not isinstance(dtype, torch.dtype):
            raise RebuildError(f"{where}: unknown dtype {data['dtype']!r}")
        return dtype
    if tag == "device":
        return torch.device(data["device"])
    if tag == "path":
        cls = resolve_class(data["class"], where)
        if not issubclass(cls, PurePath):
            raise RebuildError(f"{where}: {data['class']!r} is not a path class")
        return cls(data["path"])
    if tag == "slice":
        return slice(*(from_data(v, where) for v in data["slice"]))
    if tag == "enum":
        cls = resolve_class(data["enum"], where)
        if not issubclass(cls, enum.Enum) or data["member"] not in cls.__members__:
            raise RebuildError(f"{where}: {data['enum']!r} has no member {data['member']!r}")
        return cls[data["member"]]
    if tag == "typed":
        return resolve_class(data["typed"], where)(data["value"])
    if tag == "class":
        return resolve_class(data["class"], where)
    if tag == "function":
        return _resolve_function(data["function"], where)
    if tag == "partial":
        kwargs = {_checked_name(k, where): from_data(v, where) for k, v in data["kwargs"].items()}
        return functools.partial(
            from_data(data["partial"], where), *from_data({"list": data["args"]}), **kwargs
        )
    if tag == "module":
        return build_module(data["module"], where)
    if tag == "object":
        return _build_object(data, where)
    if tag == "function_transform":
        return _build_function_transform(data, where)
    raise RebuildError(f"{where}: {sorted(data)[:4]} is not a known kind of description")


# ---- how the kernel's own classes are described ----------------------------------------------------------
register_export_spec(CategoryMap, args=lambda m: {"labels": list(m.items), "sort": False, "add_na": m.add_na})
register_export_spec(Categorize, args=("sort", "add_na"), state=("vocab",))
register_export_spec(MultiCategorize, args=("add_na",), state=("vocab",))
register_export_spec(EncodedMultiCategorize, args=lambda t: {"vocab": list(t.vocab.items)})
register_export_spec(OneHotEncode, args=("c",))
register_export_spec(RegressionSetup, args=("c",))
register_export_spec(ToTensor, args=())
register_export_spec(Normalize, args=("axes", "tensor_type"), state=("mean", "std", "n_inp"))
register_export_spec(Cuda, args=("device",))
for _cls in (TensorBase, TensorCategory, TensorMultiCategory):
    register_class(_cls, f"lamina.core.{_cls.__name__}")
for _func in (parent_label, trainable_params, ranger, *(getattr(optimizers, n) for n in optimizers.__all__)):
    register_function(f"lamina.core.{_func.__name__}")(_func)
