"""Hooks on a model's layers, and the model-inspection helpers built on them.

`Hook(module, hook_func)` calls `hook_func(module, inputs, outputs)` on every forward pass (or, with
`is_forward=False`, `hook_func(module, grad_inputs, grad_outputs)` on every backward pass) and keeps
what it returns in `hook.stored`. `Hooks` does the same for several modules. Both are context
managers that remove their PyTorch hooks on exit, also when the forward pass raised.

The helpers answer questions a model builder asks before training: `dummy_eval` (run a dummy batch),
`model_sizes` (the output shape of each child), `num_features_model` (channels coming out),
`in_channels`, `total_params`, `has_params`, `flatten_model` and `layer_info`/`model_summary`
(one row per leaf layer). A dummy run puts the model in eval mode and restores every module's own
training flag afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch import distributed as dist
from torch.nn.utils import parametrize

from lamina.core.basics.collections import L

__all__ = [
    "Hook",
    "Hooks",
    "hook_output",
    "hook_outputs",
    "DummyEvalError",
    "dummy_eval",
    "model_sizes",
    "num_features_model",
    "in_channels",
    "one_param",
    "has_params",
    "total_params",
    "flatten_model",
    "LayerInfo",
    "layer_info",
    "model_summary",
]

HookFunc = Callable[[nn.Module, Any, Any], Any]
Size = int | Sequence[int]

_CONVS: tuple[type[nn.Module], ...] = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)
_CONV_NDIM = {
    nn.Conv1d: 1,
    nn.Conv2d: 2,
    nn.Conv3d: 3,
    nn.ConvTranspose1d: 1,
    nn.ConvTranspose2d: 2,
    nn.ConvTranspose3d: 3,
}
_MAX_PROBE_SIZE = 2048


def _gathered(t: Tensor) -> Tensor:
    """`t` from every process of the default group, concatenated on dim 0 (`t` when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return t
    parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts)


def _detached(x: Any, cpu: bool, gather: bool) -> Any:
    """Every tensor in `x` (nested tuples/lists/dicts) detached, gathered and moved to the CPU as asked."""
    if isinstance(x, Tensor):
        x = x.detach()
        if gather:
            x = _gathered(x)
        return x.cpu() if cpu else x
    if isinstance(x, dict):
        return {k: _detached(v, cpu, gather) for k, v in x.items()}
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*(_detached(v, cpu, gather) for v in x))
    if isinstance(x, (list, tuple)):
        return type(x)(_detached(v, cpu, gather) for v in x)
    return x


class Hook:
    """Call `hook_func(module, inputs, outputs)` at each forward (or backward) pass of `m`; keep the result.

    `is_forward=False` registers a full backward hook: `hook_func` then gets the module, the
    gradients with respect to its inputs and those with respect to its outputs. `detach` detaches
    what `hook_func` sees from the graph (`cpu` also moves it to the CPU; `gather` concatenates it
    on dim 0 across the processes of a `torch.distributed` run, which must all produce the same
    shape). The result is in `stored` (None before the first call). Use as a context manager, or
    call `remove()` when done. A backward hook uses `register_full_backward_hook`, so PyTorch's
    rules apply (e.g. the module's output must not be modified in place afterwards).
    """

    def __init__(
        self,
        m: nn.Module,
        hook_func: HookFunc,
        is_forward: bool = True,
        detach: bool = True,
        cpu: bool = False,
        gather: bool = False,
    ) -> None:
        if not isinstance(m, nn.Module):
            raise TypeError(f"Hook: can only hook an nn.Module, got {type(m).__name__}: {m!r}")
        if not callable(hook_func):
            raise TypeError(f"Hook: hook_func must be callable, got {hook_func!r}")
        self.hook_func, self.is_forward = hook_func, is_forward
        self.detach, self.cpu, self.gather = detach, cpu, gather
        self.stored: Any = None
        self.removed = False
        register = m.register_forward_hook if is_forward else m.register_full_backward_hook
        self._handle = register(self._hook_fn)

    def _hook_fn(self, module: nn.Module, inputs: Any, outputs: Any) -> None:
        # Returns None on purpose: a value returned by a PyTorch hook would replace the output/gradient.
        if self.detach:
            inputs = _detached(inputs, self.cpu, self.gather)
            outputs = _detached(outputs, self.cpu, self.gather)
        self.stored = self.hook_func(module, inputs, outputs)

    def remove(self) -> None:
        """Remove the hook from its module (calling it again does nothing)."""
        if not self.removed:
            self._handle.remove()
            self.removed = True

    def __enter__(self) -> Hook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def __repr__(self) -> str:
        kind = "forward" if self.is_forward else "backward"
        state = "removed" if self.removed else "active"
        return f"Hook({kind}, {getattr(self.hook_func, '__qualname__', self.hook_func)}, {state})"


def _modules_of(ms: nn.Module | Iterable[nn.Module]) -> list[nn.Module]:
    """A module stands for its children (as in `hook_outputs(model)`); an iterable for its items."""
    if isinstance(ms, nn.Module):
        return list(ms.children())
    modules = list(ms)
    for i, m in enumerate(modules):
        if not isinstance(m, nn.Module):
            raise TypeError(f"Hooks: item {i} is {type(m).__name__} ({m!r}), not an nn.Module")
    return modules


class Hooks:
    """One `Hook` per module of `ms` (a list of modules, or a module: its children), same arguments.

    Iterable and indexable (each item a `Hook`); `stored` lists what each hook stored. Use as a
    context manager, or call `remove()` when done.
    """

    def __init__(
        self,
        ms: nn.Module | Iterable[nn.Module],
        hook_func: HookFunc,
        is_forward: bool = True,
        detach: bool = True,
        cpu: bool = False,
        gather: bool = False,
    ) -> None:
        self.hooks: list[Hook] = []
        try:
            for m in _modules_of(ms):
                self.hooks.append(Hook(m, hook_func, is_forward, detach, cpu, gather))
        except BaseException:
            self.remove()
            raise

    def __getitem__(self, i: int) -> Hook:
        return self.hooks[i]

    def __len__(self) -> int:
        return len(self.hooks)

    def __iter__(self) -> Iterator[Hook]:
        return iter(self.hooks)

    @property
    def stored(self) -> L:
        """What each hook stored, in the order of the modules."""
        return L(h.stored for h in self.hooks)

    def remove(self) -> None:
        """Remove every hook."""
        for h in self.hooks:
            h.remove()

    def __enter__(self) -> Hooks:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"Hooks({len(self.hooks)} hooks)"


def _store_output(module: nn.Module, inputs: Any, output: Any) -> Any:
    """The hook function of `hook_output`: keep the output (a tensor, or its items as a list)."""
    if isinstance(output, (Tensor, list)):
        return output
    if isinstance(output, tuple) and not hasattr(output, "_fields"):
        return list(output)
    return output


def hook_output(module: nn.Module, detach: bool = True, cpu: bool = False, grad: bool = False) -> Hook:
    """A `Hook` that stores the output of `module` (or, with `grad=True`, the gradients of its outputs)."""
    return Hook(module, _store_output, is_forward=not grad, detach=detach, cpu=cpu)


def hook_outputs(
    modules: nn.Module | Iterable[nn.Module], detach: bool = True, cpu: bool = False, grad: bool = False
) -> Hooks:
    """`Hooks` storing the output (or output gradients) of each module (a module stands for its children)."""
    return Hooks(modules, _store_output, is_forward=not grad, detach=detach, cpu=cpu)


# ---------------------------------------------------------------------------------------- inspection


def one_param(m: nn.Module) -> nn.Parameter:
    """The first parameter of `m` (tells its device and dtype)."""
    p = next(m.parameters(), None)
    if p is None:
        raise ValueError(f"{type(m).__name__} has no parameters, so its device and dtype are unknown")
    return p


def has_params(m: nn.Module) -> bool:
    """Whether `m` (or any of its submodules) has a parameter."""
    return next(m.parameters(), None) is not None


def total_params(m: nn.Module) -> tuple[int, bool]:
    """`(number of parameter values in m, whether its first parameter is trainable)` (fastai's convention)."""
    params = list(m.parameters())
    return sum(p.numel() for p in params), bool(params) and params[0].requires_grad


def flatten_model(m: nn.Module) -> list[nn.Module]:
    """The leaf layers of `m`, in registration order: modules without children, and modules whose
    weights are parametrized (weight/spectral norm count as part of their layer); `[m]` for a leaf."""
    if parametrize.is_parametrized(m) or next(m.children(), None) is None:
        return [m]
    return [leaf for child in m.children() for leaf in flatten_model(child)]


def _first_conv(m: nn.Module) -> nn.Module | None:
    return next((sub for sub in m.modules() if isinstance(sub, _CONVS)), None)


def in_channels(m: nn.Module) -> int:
    """The number of channels `m` takes: the `in_channels` of its first convolution."""
    conv = _first_conv(m)
    if conv is None:
        raise ValueError(
            f"in_channels: {type(m).__name__} has no convolution layer, so the number of channels "
            "of its input is unknown"
        )
    return conv.in_channels


class DummyEvalError(RuntimeError):
    """A model that failed on the dummy batch of `dummy_eval` (often: an input size too small for it)."""


def _spatial_size(m: nn.Module, size: Size, where: str) -> tuple[int, ...]:
    conv = _first_conv(m)
    ndim = _CONV_NDIM[type(conv)] if conv is not None else None
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size,) * (ndim or 2)
    size = tuple(size)
    if not size or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size):
        raise ValueError(f"{where}: size must be a positive int or a tuple of positive ints, got {size!r}")
    if ndim is not None and len(size) != ndim:
        raise ValueError(
            f"{where}: the first convolution of {type(m).__name__} is {ndim}-d, so size needs {ndim} "
            f"values, got {size!r}"
        )
    return size


class _EvalMode:
    """Put a model in eval mode and restore each module's own training flag on exit."""

    def __init__(self, m: nn.Module) -> None:
        self.m = m
        self.flags = [(sub, sub.training) for sub in m.modules()]

    def __enter__(self) -> nn.Module:
        return self.m.eval()

    def __exit__(self, *exc_info: object) -> None:
        for sub, flag in self.flags:
            sub.training = flag


def dummy_eval(m: nn.Module, size: Size = (64, 64)) -> Any:
    """Run `m` (eval mode, no gradients) on one random batch item of spatial `size`; return the output.

    The batch has shape `(1, in_channels(m), *size)` and the device and dtype of `m`'s parameters; an
    int `size` is repeated for each spatial dimension of `m`'s first convolution. The training flags
    of all modules are restored afterwards. A failure raises `DummyEvalError` naming the input shape.
    """
    size = _spatial_size(m, size, "dummy_eval")
    p = one_param(m)
    x = torch.empty(1, in_channels(m), *size, device=p.device, dtype=p.dtype).uniform_(-1.0, 1.0)
    with _EvalMode(m), torch.no_grad():
        try:
            return m(x)
        except Exception as e:
            raise DummyEvalError(
                f"dummy_eval: {type(m).__name__} failed on a dummy input of shape {tuple(x.shape)}: {e}"
            ) from e


def model_sizes(m: nn.Module, size: Size = (64, 64)) -> list[torch.Size]:
    """The output shape of each child of `m` on a dummy batch of spatial `size` (see `dummy_eval`)."""
    children = list(m.named_children())
    if not children:
        raise ValueError(f"model_sizes: {type(m).__name__} has no child modules to measure")
    with hook_outputs([c for _, c in children]) as hooks:
        dummy_eval(m, size)
        sizes = []
        for (name, child), stored in zip(children, hooks.stored):
            if not isinstance(stored, Tensor):
                got = "was not called" if stored is None else f"returned {type(stored).__name__}"
                raise ValueError(
                    f"model_sizes: child {name!r} ({type(child).__name__}) of {type(m).__name__} {got} "
                    "during the dummy run; every child must return one tensor"
                )
            sizes.append(stored.shape)
    return sizes


def num_features_model(m: nn.Module) -> int:
    """The number of channels coming out of `m` (e.g. a model body).

    Tries dummy inputs of size 32, 64, ... up to 2048 per spatial dimension until one is large
    enough for `m` to run.
    """
    sz, last_error = 32, None
    while sz <= _MAX_PROBE_SIZE:
        try:
            return int(model_sizes(m, sz)[-1][1])
        except DummyEvalError as e:
            last_error = e
            sz *= 2
    raise ValueError(
        f"num_features_model: {type(m).__name__} failed on every dummy input size from 32 to "
        f"{_MAX_PROBE_SIZE}; last error: {last_error}"
    ) from last_error


class LayerInfo(NamedTuple):
    """One row of `layer_info`: a leaf layer's name, class, parameter count and output shape."""

    name: str
    type: str
    n_params: int
    trainable: bool
    shape: tuple[int, ...] | None
    same_bs: bool


def _shape_of(output: Any) -> tuple[int, ...] | None:
    if isinstance(output, Tensor):
        return tuple(output.shape)
    if isinstance(output, (list, tuple)) and output and isinstance(output[0], Tensor):
        return tuple(output[0].shape)
    return None


def layer_info(model: nn.Module, *xb: Any) -> list[LayerInfo]:
    """Run `model` on `xb` (eval mode, no gradients) and describe each leaf layer that ran, in call order.

    `shape` is the layer's output shape (of its first output tensor), `same_bs` whether its batch
    dimension equals the input's. Training flags are restored afterwards.
    """
    if not xb:
        raise ValueError("layer_info: pass the model's input batch, e.g. layer_info(model, xb)")
    names = {id(mod): name for name, mod in model.named_modules()}
    calls: list[tuple[nn.Module, tuple[int, ...] | None]] = []
    leaves = flatten_model(model)
    with Hooks(leaves, lambda mod, _, out: calls.append((mod, _shape_of(out)))):
        with _EvalMode(model), torch.no_grad():
            model(*xb)
    first = next((x for x in xb if isinstance(x, Tensor)), None)
    bs = first.shape[0] if first is not None and first.ndim else None
    rows = []
    for leaf, shape in calls:
        n, trainable = total_params(leaf)
        same_bs = shape is not None and bool(shape) and shape[0] == bs
        rows.append(LayerInfo(names.get(id(leaf), ""), type(leaf).__name__, n, trainable, shape, same_bs))
    return rows


def model_summary(model: nn.Module, *xb: Any) -> str:
    """A text table of `layer_info(model, *xb)` with the total and trainable parameter counts."""
    rows = layer_info(model, *xb)
    lines = [f"{type(model).__name__} (input shape {_shape_of(xb[0]) if xb else None})"]
    lines.append(f"{'Layer':<40} {'Type':<22} {'Output shape':<22} {'Param #':>12} Trainable")
    lines.append("=" * 110)
    for r in rows:
        shape = "?" if r.shape is None else str(list(r.shape))
        lines.append(f"{r.name:<40} {r.type:<22} {shape:<22} {r.n_params:>12,} {r.trainable}")
    lines.append("=" * 110)
    params = list(model.parameters())
    n_train = sum(p.numel() for p in params if p.requires_grad)
    lines.append(f"Total params: {sum(p.numel() for p in params):,}")
    lines.append(f"Trainable params: {n_train:,}")
    return "\n".join(lines)
