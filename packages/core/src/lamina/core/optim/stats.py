"""Stats: functions that update per-parameter state from the gradients of a `ParamBatch`.

Each takes the batch and the group's hyper-parameters as keywords (ignoring the ones it does not use)
and updates `batch.states` in place with multi-tensor operations.
"""

from __future__ import annotations

import torch

from lamina.core.optim.batch import ParamBatch
from lamina.core.optim.hyper_defaults import declare_defaults

__all__ = ["average_grad", "average_sqr_grad", "step_stat", "larc_layer_lr"]


@declare_defaults(mom=0.9)
def average_grad(batch: ParamBatch, mom: float, dampening: bool = False, **_) -> None:
    """State `grad_avg`: `mom * grad_avg + grad`, or `mom * grad_avg + (1 - mom) * grad` with `dampening`."""
    avgs = batch.state_tensors("grad_avg")
    if dampening:
        torch._foreach_lerp_(avgs, batch.grads, 1 - mom)
    else:
        torch._foreach_mul_(avgs, mom)
        torch._foreach_add_(avgs, batch.grads)


@declare_defaults(sqr_mom=0.99)
def average_sqr_grad(batch: ParamBatch, sqr_mom: float, dampening: bool = True, **_) -> None:
    """State `sqr_avg`: `sqr_mom * sqr_avg + (1 - sqr_mom) * grad**2` (weight 1 on `grad**2` without
    `dampening`)."""
    avgs = batch.state_tensors("sqr_avg")
    torch._foreach_mul_(avgs, sqr_mom)
    torch._foreach_addcmul_(avgs, batch.grads, batch.grads, value=1 - sqr_mom if dampening else 1.0)


def step_stat(batch: ParamBatch, **_) -> None:
    """State `step`: how many updates each parameter has received (a Python int)."""
    for s in batch.states:
        s["step"] = s.get("step", 0) + 1


@declare_defaults(trust_coeff=0.02, wd=0.0, eps=1e-8)
def larc_layer_lr(
    batch: ParamBatch, lr: float, trust_coeff: float, wd: float, eps: float, clip: bool = True, **_
) -> None:
    """State `local_lr` (LARS): `lr * trust_coeff * |p| / (|g| + wd * |p| + eps)`, at most `lr` with `clip`.

    A parameter or gradient of norm zero keeps `lr` (a zero-initialised bias still trains). Computed
    from the weights and gradients before weight decay touches them.
    """
    p_norms = torch.stack(torch._foreach_norm(batch.params)).double()
    g_norms = torch.stack(torch._foreach_norm(batch.grads)).double()
    wd = wd if batch.do_wd else 0.0
    local = lr * trust_coeff * p_norms / (g_norms + wd * p_norms + eps)
    if clip:
        local = local.clamp(max=lr)
    local = torch.where((p_norms == 0) | (g_norms == 0), torch.full_like(local, lr), local)
    for s, value in zip(batch.states, local.tolist()):
        s["local_lr"] = value
