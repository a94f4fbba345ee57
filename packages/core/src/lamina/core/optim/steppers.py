"""Steppers: functions that change the parameters of a `ParamBatch` (weight decay, the update rules).

Like stats, each takes the batch and the group's hyper-parameters as keywords, and works on all the
batch's tensors at once with `torch._foreach_*` operations. Adam-like steppers read the state written
by `average_grad(dampening=True)`, `average_sqr_grad` and `step_stat`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from lamina.core.optim.batch import ParamBatch, scalars
from lamina.core.optim.hyper_defaults import declare_defaults

__all__ = [
    "weight_decay",
    "l2_reg",
    "sgd_step",
    "momentum_step",
    "rms_prop_step",
    "adam_step",
    "radam_step",
    "qhadam_step",
    "larc_step",
    "lamb_step",
]


@declare_defaults(wd=0.0)
def weight_decay(batch: ParamBatch, lr: float, wd: float, **_) -> None:
    """Decoupled weight decay: `p *= 1 - lr * wd` (skipped for parameters with `do_wd` False)."""
    if batch.do_wd and wd != 0:
        torch._foreach_mul_(batch.params, 1 - lr * wd)


@declare_defaults(wd=0.0)
def l2_reg(batch: ParamBatch, wd: float, **_) -> None:
    """L2 regularisation: the later stats and steppers see `grad + wd * p` (`p.grad` is left as is)."""
    if batch.do_wd and wd != 0:
        batch.grads = torch._foreach_add(batch.grads, batch.params, alpha=wd)


def sgd_step(batch: ParamBatch, lr: float, **_) -> None:
    """`p -= lr * grad`."""
    torch._foreach_add_(batch.params, batch.grads, alpha=-lr)


def momentum_step(batch: ParamBatch, lr: float, **_) -> None:
    """`p -= lr * grad_avg`."""
    torch._foreach_add_(batch.params, batch.state_tensors("grad_avg"), alpha=-lr)


@declare_defaults(eps=1e-8)
def rms_prop_step(batch: ParamBatch, lr: float, eps: float, mom: float = 0.0, **_) -> None:
    """RMSProp: `p -= lr * grad / (sqrt(sqr_avg) + eps)`.

    With `mom`, the normalised gradients are averaged instead (state `step_avg`), as in
    `torch.optim.RMSprop` and Hinton's formulation: `step_avg = mom * step_avg + grad / denom`,
    `p -= lr * step_avg`.
    """
    denom = torch._foreach_sqrt(batch.state_tensors("sqr_avg"))
    torch._foreach_add_(denom, eps)
    if mom:
        avgs = batch.state_tensors("step_avg")
        torch._foreach_mul_(avgs, mom)
        torch._foreach_addcdiv_(avgs, batch.grads, denom)
        torch._foreach_add_(batch.params, avgs, alpha=-lr)
    else:
        torch._foreach_addcdiv_(batch.params, batch.grads, denom, value=-lr)


def _bias_corrections(batch: ParamBatch, mom: float, sqr_mom: float) -> tuple[list[float], list[float]]:
    steps = batch.state_values("step")
    if None in steps:
        raise RuntimeError("this stepper needs the state 'step': put step_stat before it")
    return [1 - mom**t for t in steps], [1 - sqr_mom**t for t in steps]


@declare_defaults(eps=1e-5)
def adam_step(batch: ParamBatch, lr: float, mom: float, sqr_mom: float, eps: float, **_) -> None:
    """Adam: `p -= lr * m_hat / (sqrt(v_hat) + eps)` with the bias-corrected averages of grad and grad**2.

    Computed as `p -= lr * sqrt(bc2) / bc1 * grad_avg / (sqrt(sqr_avg) + eps * sqrt(bc2))`, which is the
    same number with one pass less over the state.
    """
    bc1, bc2 = _bias_corrections(batch, mom, sqr_mom)
    root_bc2 = [math.sqrt(b) for b in bc2]
    denom = torch._foreach_sqrt(batch.state_tensors("sqr_avg"))
    torch._foreach_add_(denom, scalars([eps * r for r in root_bc2]))
    step_sizes = scalars([-lr * r / b for r, b in zip(root_bc2, bc1)])
    torch._foreach_addcdiv_(batch.params, batch.state_tensors("grad_avg"), denom, step_sizes)


def _adam_denominators(batch: ParamBatch, bc2: list[float], eps: float) -> list[torch.Tensor]:
    """`sqrt(sqr_avg / bc2) + eps` for each parameter."""
    denom = torch._foreach_div(batch.state_tensors("sqr_avg"), scalars(bc2))
    torch._foreach_sqrt_(denom)
    torch._foreach_add_(denom, eps)
    return denom


def _add_scaled_(targets: list[torch.Tensor], sources: list[torch.Tensor], scales: list[float]) -> None:
    """`targets[i] += scales[i] * sources[i]`."""
    scale = scalars(scales)
    if isinstance(scale, float):
        torch._foreach_add_(targets, sources, alpha=scale)
    else:
        torch._foreach_add_(targets, torch._foreach_mul(sources, scale))


@declare_defaults(eps=1e-5, beta=0.0)
def radam_step(
    batch: ParamBatch, lr: float, mom: float, sqr_mom: float, eps: float, beta: float, **_
) -> None:
    """RAdam (Liu et al. 2019): Adam scaled by the variance rectification term where the approximated
    SMA length `r` exceeds 5 (the threshold of the authors' code), SGD with bias-corrected momentum
    before. `beta` > 0 smooths the denominator with `softplus(denom, beta)`."""
    bc1, bc2 = _bias_corrections(batch, mom, sqr_mom)
    r_inf = 2 / (1 - sqr_mom) - 1
    rect, plain = [], []
    for i, (t, b2) in enumerate(zip(batch.state_values("step"), bc2)):
        r = r_inf - 2 * t * sqr_mom**t / b2
        if r > 5:
            v = math.sqrt((r - 4) * (r - 2) * r_inf / ((r_inf - 4) * (r_inf - 2) * r))
            rect.append((i, -lr * v / bc1[i]))
        else:
            plain.append((i, -lr / bc1[i]))
    avgs = batch.state_tensors("grad_avg")
    if plain:
        _add_scaled_([batch.params[i] for i, _ in plain], [avgs[i] for i, _ in plain], [s for _, s in plain])
    if rect:
        sub = ParamBatch([batch.params[i] for i, _ in rect], [], [batch.states[i] for i, _ in rect])
        denom = _adam_denominators(sub, [bc2[i] for i, _ in rect], eps)
        if beta:
            denom = [F.softplus(d, beta) for d in denom]
        torch._foreach_addcdiv_(sub.params, [avgs[i] for i, _ in rect], denom, scalars([s for _, s in rect]))


@declare_defaults(eps=1e-8, nu_1=0.7, nu_2=1.0)
def qhadam_step(
    batch: ParamBatch, lr: float, mom: float, sqr_mom: float, nu_1: float, nu_2: float, eps: float, **_
) -> None:
    """QHAdam (Ma & Yarats 2019):
    `p -= lr * ((1-nu_1) g + nu_1 m_hat) / (sqrt((1-nu_2) g**2 + nu_2 v_hat) + eps)`."""
    bc1, bc2 = _bias_corrections(batch, mom, sqr_mom)
    numer = torch._foreach_mul(batch.state_tensors("grad_avg"), scalars([nu_1 / b for b in bc1]))
    torch._foreach_add_(numer, batch.grads, alpha=1 - nu_1)
    denom = torch._foreach_mul(batch.state_tensors("sqr_avg"), scalars([nu_2 / b for b in bc2]))
    torch._foreach_addcmul_(denom, batch.grads, batch.grads, value=1 - nu_2)
    torch._foreach_sqrt_(denom)
    torch._foreach_add_(denom, eps)
    torch._foreach_addcdiv_(batch.params, numer, denom, value=-lr)


@declare_defaults(mom=0.9)
def larc_step(batch: ParamBatch, mom: float, **_) -> None:
    """LARS/LARC update with the per-parameter `local_lr` of `larc_layer_lr`.

    `mom_buf = mom * mom_buf + local_lr * grad`, `p -= mom_buf` (momentum over the scaled gradients,
    as in the LARS paper); without momentum, `p -= local_lr * grad`.
    """
    local_lrs = batch.state_values("local_lr")
    if None in local_lrs:
        raise RuntimeError("larc_step needs the state 'local_lr': put larc_layer_lr before it")
    if not mom:
        _add_scaled_(batch.params, batch.grads, [-lr for lr in local_lrs])
        return
    bufs = batch.state_tensors("mom_buf")
    torch._foreach_mul_(bufs, mom)
    _add_scaled_(bufs, batch.grads, local_lrs)
    torch._foreach_sub_(batch.params, bufs)


@declare_defaults(eps=1e-5)
def lamb_step(
    batch: ParamBatch,
    lr: float,
    mom: float,
    sqr_mom: float,
    eps: float,
    wd: float = 0.0,
    decouple_wd: bool = True,
    **_,
) -> None:
    """LAMB (You et al. 2020): `u = m_hat / (sqrt(v_hat) + eps) + wd * p`, `p -= lr * q * u` with the
    trust ratio `q = min(|p| / |u|, 10)` (1 where either norm is zero).

    The `wd * p` term is the paper's decoupled weight decay; with `decouple_wd=False` it is left out
    (`Lamb` then puts `l2_reg` before the stats instead).
    """
    bc1, bc2 = _bias_corrections(batch, mom, sqr_mom)
    updates = torch._foreach_div(batch.state_tensors("grad_avg"), _adam_denominators(batch, bc2, eps))
    torch._foreach_div_(updates, scalars(bc1))
    if decouple_wd and batch.do_wd and wd != 0:
        torch._foreach_add_(updates, batch.params, alpha=wd)
    p_norms = torch.stack(torch._foreach_norm(batch.params))
    u_norms = torch.stack(torch._foreach_norm(updates))
    trust = torch.where((p_norms == 0) | (u_norms == 0), 1.0, (p_norms / u_norms).clamp(max=10.0))
    _add_scaled_(batch.params, updates, [-lr * q for q in trust.tolist()])
