"""Constructor arguments recorded on each layer, so a model built from Lamina layers is plain data.

A class that inherits `RecordedInit` keeps, on every instance, the arguments its constructor was
called with: `layer._init_args` is a dict `{parameter name: value}` with the defaults filled in, the
`**kwargs` merged in by name and a `*args` parameter stored as a tuple under its name. The most
derived constructor wins, so `type(layer)(**layer._init_args)` (with `*args` spread) rebuilds it.
Subclasses are recorded automatically (`__init_subclass__`); nothing else changes about the class.

The values are what the caller passed: numbers, strings, tuples, `None`, enum members, classes
(`act_cls=nn.ReLU`), functions (`pool=AvgPool`) and modules (`xtra=...`, `SequentialEx`'s layers).
`module_config(layer)` turns them into JSON-ready data and `module_from_config(config)` rebuilds the
layer; both name classes only through the `classes` registry (or `torch.nn.<Name>`) and functions
only through `torch.nn.init`, `torch.nn.functional`, `torch` or `register_function`, so rebuilding
never imports or unpickles anything. Structural edits after construction (`append` on a
`nn.Sequential`) are not recorded, except through `SequentialEx`'s own `append`/`insert`/`extend`.

Data format (every non-scalar is a one-key-tagged dict, so user dicts cannot be mistaken for tags):
`{"class": name, "args": {...}}` at the top; inside, scalars as themselves, `{"tuple": [...]}`,
`{"list": [...]}`, `{"dict": {...}}`, `{"class": name}`, `{"enum": name, "member": member}`,
`{"function": name}`, `{"module": config}`, `{"tensor": nested list, "dtype": "float32"}`.
"""

from __future__ import annotations

import enum
import functools
import inspect
import types
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from lamina.core.plugins import registry

__all__ = ["RecordedInit", "register_function", "module_config", "module_from_config"]

_RECORDED_FLAG = "__lamina_records_init__"
_SIGNATURE = "__lamina_init_signature__"
_FUNCTION_NAMESPACES: dict[str, Any] = {"torch.nn.init": nn.init, "torch.nn.functional": F, "torch": torch}
_functions: dict[str, Callable] = {}
_function_names: dict[Callable, str] = {}


def _raw_signature(init: Callable) -> inspect.Signature:
    """The signature of the code itself, ignoring a `__signature__` that `delegates` may have set."""
    init = inspect.unwrap(init)
    if not isinstance(init, types.FunctionType):
        return inspect.signature(init)
    raw = types.FunctionType(
        init.__code__, init.__globals__, init.__name__, init.__defaults__, init.__closure__
    )
    raw.__kwdefaults__ = init.__kwdefaults__
    return inspect.signature(raw)


def _recording(init: Callable) -> Callable:
    sig = _raw_signature(init)
    params = list(sig.parameters.values())
    self_name = params[0].name
    var_kw = next((p.name for p in params if p.kind is inspect.Parameter.VAR_KEYWORD), None)

    @functools.wraps(init)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        recorded = dict(bound.arguments)
        del recorded[self_name]
        if var_kw is not None:
            recorded.update(recorded.pop(var_kw))
        self.__dict__["_init_args"] = recorded  # plain attribute, never a parameter or a submodule

    setattr(__init__, _RECORDED_FLAG, True)
    setattr(__init__, _SIGNATURE, sig)
    return __init__


class RecordedInit:
    """Mixin: every instance keeps its constructor arguments in `self._init_args` (see the module doc)."""

    _init_args: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__init__
        if isinstance(init, types.FunctionType) and not getattr(init, _RECORDED_FLAG, False):
            cls.__init__ = _recording(init)


def register_function(name: str) -> Callable[[Callable], Callable]:
    """Let `module_config` name the decorated function (e.g. a layer factory passed as an argument)."""

    def _register(func: Callable) -> Callable:
        held = _functions.get(name)
        if held is not None and held is not func:
            raise ValueError(f"register_function: {name!r} already names {held!r}")
        _functions[name] = func
        _function_names.setdefault(func, name)
        return func

    return _register


def _class_name(cls: type, where: str) -> str:
    if cls in _torch_nn_classes():
        return f"torch.nn.{cls.__name__}"
    try:
        return registry.classes.name_of(cls)
    except registry.RegistryKeyError as e:
        raise TypeError(
            f"module_config: {where} is the class {cls.__qualname__}, which has no name: {e}"
        ) from None


@functools.cache
def _torch_nn_classes() -> frozenset[type]:
    return frozenset(
        v for k, v in vars(nn).items() if isinstance(v, type) and issubclass(v, nn.Module) and k == v.__name__
    )


def _resolve_class(name: Any, where: str) -> type:
    if not isinstance(name, str):
        raise TypeError(f"module_from_config: {where} names a class with {name!r}; expected a string")
    if name.startswith("torch.nn."):
        cls = getattr(nn, name.removeprefix("torch.nn."), None)
        if isinstance(cls, type) and cls in _torch_nn_classes():
            return cls
        raise KeyError(f"module_from_config: {where} names {name!r}, which is not a module class of torch.nn")
    return registry.classes[name]


def _allowed(prefix: str, func: Callable) -> bool:
    """From the top-level `torch` namespace only the native tensor ops (not `torch.load`, `torch.save`...)."""
    return prefix != "torch" or isinstance(func, types.BuiltinFunctionType)


def _function_name(func: Callable, where: str) -> str:
    if func in _function_names:
        return _function_names[func]
    fname = getattr(func, "__name__", None)
    for prefix, namespace in _FUNCTION_NAMESPACES.items():
        if fname is not None and getattr(namespace, fname, None) is func and _allowed(prefix, func):
            return f"{prefix}.{fname}"
    raise TypeError(
        f"module_config: {where} is the function {func!r}, which cannot be named as data; pass a "
        "function from torch.nn.init, torch.nn.functional or torch, or decorate it with @register_function"
    )


def _resolve_function(name: Any, where: str) -> Callable:
    if isinstance(name, str):
        if name in _functions:
            return _functions[name]
        prefix, _, fname = name.rpartition(".")
        func = (
            getattr(_FUNCTION_NAMESPACES.get(prefix), fname, None) if prefix in _FUNCTION_NAMESPACES else None
        )
        if callable(func) and _allowed(prefix, func):
            return func
    raise KeyError(f"module_from_config: {where} names the function {name!r}, which is not registered")


def _to_data(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)) and not isinstance(value, enum.Enum):
        return value
    if isinstance(value, tuple):
        return {"tuple": [_to_data(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return {"list": [_to_data(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"module_config: {where} is a dict with non-string keys")
        return {"dict": {k: _to_data(v, f"{where}[{k!r}]") for k, v in value.items()}}
    if isinstance(value, enum.Enum):
        return {"enum": _class_name(type(value), where), "member": value.name}
    if isinstance(value, type):
        return {"class": _class_name(value, where)}
    if isinstance(value, nn.Module):
        return {"module": _config(value, where)}
    if isinstance(value, torch.Tensor):
        return {"tensor": value.detach().cpu().tolist(), "dtype": str(value.dtype).removeprefix("torch.")}
    if callable(value):
        return {"function": _function_name(value, where)}
    raise TypeError(
        f"module_config: {where} is {value!r} ({type(value).__name__}), which cannot be stored as data"
    )


def _from_data(data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        return data
    if len(data) == 1 and "tuple" in data:
        return tuple(_from_data(v, f"{where}[{i}]") for i, v in enumerate(data["tuple"]))
    if len(data) == 1 and "list" in data:
        return [_from_data(v, f"{where}[{i}]") for i, v in enumerate(data["list"])]
    if len(data) == 1 and "dict" in data:
        return {k: _from_data(v, f"{where}[{k!r}]") for k, v in data["dict"].items()}
    if len(data) == 1 and "class" in data:
        return _resolve_class(data["class"], where)
    if len(data) == 1 and "function" in data:
        return _resolve_function(data["function"], where)
    if len(data) == 1 and "module" in data:
        return _build(data["module"], where)
    if set(data) == {"enum", "member"}:
        enum_cls = _resolve_class(data["enum"], where)
        if not issubclass(enum_cls, enum.Enum) or data["member"] not in enum_cls.__members__:
            raise KeyError(f"module_from_config: {where}: {data['enum']!r} has no member {data['member']!r}")
        return enum_cls[data["member"]]
    if set(data) == {"tensor", "dtype"}:
        dtype = getattr(torch, str(data["dtype"]), None)
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"module_from_config: {where} has the unknown tensor dtype {data['dtype']!r}")
        return torch.tensor(data["tensor"], dtype=dtype)
    raise ValueError(f"module_from_config: {where} is {data!r}, which is not a tagged value")


def _config(module: nn.Module, where: str) -> dict[str, Any]:
    cls = type(module)
    args = module.__dict__.get("_init_args")
    if args is None:
        raise TypeError(
            f"module_config: {where} is a {cls.__qualname__}, which does not record its constructor "
            "arguments; build the model from Lamina layers or make the class inherit RecordedInit"
        )
    name = _class_name(cls, where)
    return {"class": name, "args": {k: _to_data(v, f"{cls.__name__}.{k}") for k, v in args.items()}}


def _build(config: Any, where: str) -> nn.Module:
    if not isinstance(config, dict) or set(config) != {"class", "args"}:
        raise ValueError(
            f"module_from_config: {where} must be a dict with keys 'class' and 'args', got {config!r}"
        )
    cls = _resolve_class(config["class"], where)
    args = {k: _from_data(v, f"{config['class']}.{k}") for k, v in config["args"].items()}
    sig = getattr(cls.__init__, _SIGNATURE, None) or _raw_signature(cls.__init__)
    params = list(sig.parameters.values())[1:]
    has_var_pos = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)
    positional: list[Any] = []
    for p in params:
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            positional.extend(args.pop(p.name, ()))
            break
        if p.kind is inspect.Parameter.POSITIONAL_ONLY or (has_var_pos and p.name in args):
            positional.append(args.pop(p.name))
    return cls(*positional, **args)


def module_config(module: nn.Module) -> dict[str, Any]:
    """Describe `module` (built from recorded layers) as JSON-ready data: `{"class": ..., "args": ...}`."""
    return _config(module, "the model")


def module_from_config(config: dict[str, Any]) -> nn.Module:
    """Rebuild the module `config` describes (fresh weights: load a state dict afterwards)."""
    return _build(config, "the config")
