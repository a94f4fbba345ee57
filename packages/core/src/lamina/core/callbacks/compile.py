"""`learn.compile(**torch_compile_kwargs)`: run the model's forward through `torch.compile`, in place.

The model stays the same object of the same class: its parameters, `state_dict` keys, children and
`module_config` do not change, so the splitter, `freeze`/`unfreeze`, `save`/`load`, export and
`get_preds` work as before (a `torch.compile(model)` wrapper would rename every state-dict key with an
`_orig_mod.` prefix and hide the model's class). What changes is the instance's `forward`: a
`CompiledForward` that calls the class's `forward` through `torch.compile`. Its hooks still run
around it, outside the compiled graph (which is where `MixedPrecision` switches autocast, as a
hand-written loop would put `with torch.autocast(...)` around a compiled model). The compiled code is
not kept when the model is copied or pickled: the copy runs the plain forward (compile it again).

`learn.uncompile()` removes it. `nn.Module.compile()` is not used because, in current PyTorch, it
compiles nothing for a model whose top-level `forward` belongs to `torch.nn` (an `nn.Sequential` such
as XResNet): that frame is skipped and there is no frame of ours for dynamo to start from.
Compiling happens at the first batch (and again when shapes, dtypes, memory format or the frozen
parameters change); on the CPU it needs a C++ compiler.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from lamina.core.basics.meta import patch
from lamina.core.learner.learner import Learner

__all__ = ["CompiledForward", "is_compiled"]


class CompiledForward:
    """A module's `forward`, run through `torch.compile(**compile_kwargs)` (built at the first call).

    Installed as the instance attribute `module.forward`; `module.__call__` (and so the module's hooks)
    stays outside the compiled code. Copies and pickles drop the compiled function and are built again
    on first use by the copy, bound to the copied module.
    """

    def __init__(self, module: nn.Module, **compile_kwargs: Any) -> None:
        self.module = module
        self.compile_kwargs = compile_kwargs
        self._compiled: Any = None

    def _run(self, *args: Any, **kwargs: Any) -> Any:
        module = self.module
        return type(module).forward(module, *args, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._compiled is None:
            self._compiled = torch.compile(self._run, **self.compile_kwargs)
        return self._compiled(*args, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        return {"module": self.module, "compile_kwargs": self.compile_kwargs, "_compiled": None}

    def __deepcopy__(self, memo: dict[int, Any]) -> CompiledForward:
        new = CompiledForward.__new__(CompiledForward)
        memo[id(self)] = new
        new.__setstate__(copy.deepcopy(self.__getstate__(), memo))
        return new

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        kwargs = ", ".join(f"{k}={v!r}" for k, v in self.compile_kwargs.items())
        return f"CompiledForward({type(self.module).__name__}.forward, {kwargs})"


def is_compiled(model: nn.Module) -> bool:
    """Whether `model`'s forward was compiled by `learn.compile` (a `CompiledForward` is installed)."""
    return isinstance(model.__dict__.get("forward"), CompiledForward)


@patch
def compile(self: Learner, **torch_compile_kwargs: Any) -> Learner:
    """Compile the model's forward with `torch.compile(**torch_compile_kwargs)` (e.g. `mode=
    "reduce-overhead"`, `dynamic=False`, `backend=...`), in place (module docstring); compiling again
    replaces the settings. Returns the learner, so `learn.compile().fit(1)` works."""
    model = self.model
    if not isinstance(model, nn.Module):
        raise TypeError(f"Learner.compile: learn.model must be an nn.Module, got {type(model).__name__}")
    own = model.__dict__.get("forward")
    if own is not None and not isinstance(own, CompiledForward):
        raise ValueError(
            "Learner.compile: the model already has an instance attribute `forward` "
            f"({own!r:.60}); compile would hide it"
        )
    model.forward = CompiledForward(model, **torch_compile_kwargs)
    return self


@patch
def uncompile(self: Learner) -> Learner:
    """Run the model's plain forward again (undo `learn.compile`); returns the learner."""
    if is_compiled(self.model):
        del self.model.forward
    return self
