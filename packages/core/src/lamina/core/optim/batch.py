"""`ParamBatch`: the parameters that one multi-tensor (`torch._foreach_*`) update handles together."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["ParamBatch", "batch_params", "scalars"]


@dataclass
class ParamBatch:
    """Parameters of one group that share device, dtype and weight-decay flag, with grads and state.

    Stats and steppers receive a batch and the group's hyper-parameters. `grads` may be replaced by a
    stepper (L2 regularisation gives the later ones `grad + wd * param` without touching `p.grad`).
    """

    params: list[torch.Tensor]
    grads: list[torch.Tensor]
    states: list[dict[str, Any]]
    do_wd: bool = True

    def state_tensors(
        self, key: str, init: Callable[[torch.Tensor], torch.Tensor] = torch.zeros_like
    ) -> list[torch.Tensor]:
        """The state tensor `key` of each parameter, created with `init(param)` where missing."""
        out = []
        for p, s in zip(self.params, self.states):
            t = s.get(key)
            if t is None:
                t = s[key] = init(p).detach()
            out.append(t)
        return out

    def state_values(self, key: str, default: Any = None) -> list[Any]:
        """The state value `key` of each parameter (`default` where missing)."""
        return [s.get(key, default) for s in self.states]


def scalars(values: Sequence[float]) -> float | list[float]:
    """One float when all `values` agree (the common case), else the list: both suit `torch._foreach_*`."""
    first = values[0]
    return float(first) if all(v == first for v in values) else [float(v) for v in values]


def _unsupported(p: torch.Tensor, gi: int, pi: int, owner: str, what: str, instead: str) -> RuntimeError:
    return RuntimeError(
        f"{owner}.step: parameter {pi} of group {gi} ({tuple(p.shape)}) {what}, which this optimizer does "
        f"not support; {instead}"
    )


def batch_params(
    params: Sequence[torch.Tensor], state: dict[torch.Tensor, dict[str, Any]], gi: int, owner: str
) -> list[ParamBatch]:
    """The trainable parameters of group `gi` that have a gradient, split into `ParamBatch`es.

    A parameter is skipped when it has no gradient or does not require one (frozen); the rest are
    grouped by device, dtype and `state[p].get('do_wd') is not False`.
    """
    batches: dict[tuple, ParamBatch] = {}
    strided = torch.strided
    for pi, p in enumerate(params):
        grad = p.grad
        if grad is None or not p.requires_grad:
            continue
        if grad.layout is not strided:
            instead = "use OptimWrapper(params, opt=torch.optim.SparseAdam) for sparse embeddings"
            raise _unsupported(p, gi, pi, owner, "has a sparse gradient", instead)
        s = state.get(p)
        if s is None:
            s = state[p] = {}
        key = (p.device, p.dtype, s.get("do_wd") is not False)
        batch = batches.get(key)
        if batch is None:
            if p.dtype.is_complex:
                raise _unsupported(
                    p, gi, pi, owner, "is complex", "use OptimWrapper with a torch.optim optimizer"
                )
            batch = batches[key] = ParamBatch([], [], [], key[2])
        batch.params.append(p)
        batch.grads.append(grad)
        batch.states.append(s)
    return list(batches.values())
