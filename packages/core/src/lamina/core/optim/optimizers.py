"""The optimizers as lists of stats and steppers: `opt_func(params, lr, **kwargs) -> Optimizer`.

`decouple_wd=True` decays the weights directly (`p *= 1 - lr * wd`, AdamW-style); `decouple_wd=False`
adds `wd * p` to the gradient (L2 regularisation) before the stats see it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from lamina.core.optim.optimizer import Optimizer
from lamina.core.optim.param_groups import ParamsArg
from lamina.core.optim.stats import average_grad, average_sqr_grad, larc_layer_lr, step_stat
from lamina.core.optim.steppers import (
    adam_step,
    l2_reg,
    lamb_step,
    larc_step,
    momentum_step,
    qhadam_step,
    radam_step,
    rms_prop_step,
    sgd_step,
    weight_decay,
)

__all__ = ["SGD", "RMSProp", "Adam", "RAdam", "QHAdam", "Larc", "Lamb"]

LR = float | Sequence[float] | slice


def _wd_cb(decouple_wd: bool) -> Callable:
    return weight_decay if decouple_wd else l2_reg


def SGD(params: ParamsArg, lr: LR, mom: float = 0.0, wd: float = 0.0, decouple_wd: bool = True) -> Optimizer:
    """SGD, with momentum `grad_avg = mom * grad_avg + grad` when `mom` is not 0 (as `torch.optim.SGD`)."""
    cbs = [_wd_cb(decouple_wd)]
    cbs += [average_grad, momentum_step] if mom != 0 else [sgd_step]
    return Optimizer(params, cbs, lr=lr, mom=mom, wd=wd)


def RMSProp(
    params: ParamsArg,
    lr: LR,
    sqr_mom: float = 0.99,
    mom: float = 0.0,
    eps: float = 1e-8,
    wd: float = 0.0,
    decouple_wd: bool = True,
) -> Optimizer:
    """RMSProp: `p -= lr * grad / (sqrt(sqr_avg) + eps)`; `mom` averages those normalised steps."""
    cbs = [_wd_cb(decouple_wd), average_sqr_grad, rms_prop_step]
    return Optimizer(params, cbs, lr=lr, mom=mom, sqr_mom=sqr_mom, eps=eps, wd=wd)


def _adam_stats() -> list[Callable]:
    return [partial(average_grad, dampening=True), average_sqr_grad, step_stat]


def Adam(
    params: ParamsArg,
    lr: LR,
    mom: float = 0.9,
    sqr_mom: float = 0.99,
    eps: float = 1e-5,
    wd: float = 0.01,
    decouple_wd: bool = True,
) -> Optimizer:
    """Adam (`decouple_wd=True`, the default: AdamW) with `betas=(mom, sqr_mom)`."""
    cbs = [_wd_cb(decouple_wd), *_adam_stats(), adam_step]
    return Optimizer(params, cbs, lr=lr, mom=mom, sqr_mom=sqr_mom, eps=eps, wd=wd)


def RAdam(
    params: ParamsArg,
    lr: LR,
    mom: float = 0.9,
    sqr_mom: float = 0.99,
    eps: float = 1e-5,
    wd: float = 0.0,
    beta: float = 0.0,
    decouple_wd: bool = True,
) -> Optimizer:
    """Rectified Adam (Liu et al. 2019); `beta` > 0 smooths the denominator with a softplus."""
    cbs = [_wd_cb(decouple_wd), *_adam_stats(), radam_step]
    return Optimizer(params, cbs, lr=lr, mom=mom, sqr_mom=sqr_mom, eps=eps, wd=wd, beta=beta)


def QHAdam(
    params: ParamsArg,
    lr: LR,
    mom: float = 0.999,
    sqr_mom: float = 0.999,
    nu_1: float = 0.7,
    nu_2: float = 1.0,
    eps: float = 1e-8,
    wd: float = 0.0,
    decouple_wd: bool = True,
) -> Optimizer:
    """Quasi-hyperbolic Adam (Ma & Yarats 2019)."""
    cbs = [_wd_cb(decouple_wd), *_adam_stats(), qhadam_step]
    return Optimizer(params, cbs, lr=lr, mom=mom, sqr_mom=sqr_mom, nu_1=nu_1, nu_2=nu_2, eps=eps, wd=wd)


def Larc(
    params: ParamsArg,
    lr: LR,
    mom: float = 0.9,
    clip: bool = True,
    trust_coeff: float = 0.02,
    eps: float = 1e-8,
    wd: float = 0.0,
    decouple_wd: bool = True,
) -> Optimizer:
    """LARS with per-layer learning rates (You et al. 2017); `clip=True` (LARC) caps them at `lr`.

    The layer learning rate is computed from the weights and gradients before weight decay; with
    `decouple_wd=False` the `wd * p` term joins the gradient inside the scaled momentum, as in the paper.
    """
    cbs = [partial(larc_layer_lr, clip=clip), _wd_cb(decouple_wd), larc_step]
    return Optimizer(params, cbs, lr=lr, mom=mom, trust_coeff=trust_coeff, eps=eps, wd=wd)


def Lamb(
    params: ParamsArg,
    lr: LR,
    mom: float = 0.9,
    sqr_mom: float = 0.99,
    eps: float = 1e-5,
    wd: float = 0.0,
    decouple_wd: bool = True,
) -> Optimizer:
    """LAMB (You et al. 2020): Adam steps scaled per layer by the trust ratio `|p| / |update|`."""
    if decouple_wd:
        cbs = [*_adam_stats(), lamb_step]
    else:
        cbs = [l2_reg, *_adam_stats(), partial(lamb_step, decouple_wd=False)]
    return Optimizer(params, cbs, lr=lr, mom=mom, sqr_mom=sqr_mom, eps=eps, wd=wd)
