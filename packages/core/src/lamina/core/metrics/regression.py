"""Regression metrics. Means over items are functions (`mse`, `mae`, `msle`); metrics that are not a
mean over items (`rmse`, `exp_rmspe`, `R2Score`, ...) are computed on the whole validation set."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lamina.core.metrics.base import AccumMetric, _to_python, flatten_check

__all__ = [
    "mse",
    "rmse",
    "mae",
    "msle",
    "exp_rmspe",
    "R2Score",
    "ExplainedVariance",
    "PearsonCorrCoef",
    "SpearmanCorrCoef",
]


def _float_pair(name: str, inp: torch.Tensor, targ: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flatten, check sizes and bring both to one floating dtype."""
    inp, targ = flatten_check(inp, targ, name)
    dtype = torch.promote_types(inp.dtype, targ.dtype)
    if not dtype.is_floating_point:
        dtype = torch.get_default_dtype()
    return inp.to(dtype), targ.to(dtype)


def mse(inp: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
    """Mean squared error."""
    inp, targ = _float_pair("mse", inp, targ)
    return F.mse_loss(inp, targ)


def _rmse(inp: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
    inp, targ = _float_pair("rmse", inp, targ)
    return F.mse_loss(inp.double(), targ.double()).sqrt()


rmse = AccumMetric(_rmse, name="rmse")
rmse.__doc__ = "Root mean squared error over the whole validation set (callable as `rmse(pred, targ)`)."


def mae(inp: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
    """Mean absolute error."""
    inp, targ = _float_pair("mae", inp, targ)
    return (inp - targ).abs().mean()


def msle(inp: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
    """Mean squared logarithmic error, `mean((log(1+pred) - log(1+targ))**2)`; values must be > -1."""
    inp, targ = _float_pair("msle", inp, targ)
    for what, t in (("predictions", inp), ("targets", targ)):
        if t.numel() and bool((t <= -1).any()):
            raise ValueError(
                f"msle: {what} must be greater than -1 (log(1 + x) is undefined), got {float(t.min())}"
            )
    return F.mse_loss(torch.log1p(inp), torch.log1p(targ))


def _exp_rmspe(inp: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
    inp, targ = _float_pair("exp_rmspe", inp, targ)
    inp, targ = inp.double().exp(), targ.double().exp()
    return (((targ - inp) / targ) ** 2).mean().sqrt()


exp_rmspe = AccumMetric(_exp_rmspe, name="exp_rmspe")
exp_rmspe.__doc__ = (
    "Root mean squared percentage error of `exp(pred)` against `exp(targ)`, for models trained on log "
    "targets, over the whole validation set."
)


def _finite_ratio(num: torch.Tensor, den: torch.Tensor) -> float:
    """`1 - num/den`, with scikit-learn's convention when `den` is 0: 1 if `num` is 0 too, else 0."""
    if den == 0:
        return 1.0 if num == 0 else 0.0
    return _to_python(1 - num / den)


def _r2(preds: torch.Tensor, targs: torch.Tensor) -> float:
    preds, targs = preds.double(), targs.double()
    return _finite_ratio(((targs - preds) ** 2).sum(), ((targs - targs.mean()) ** 2).sum())


def _explained_variance(preds: torch.Tensor, targs: torch.Tensor) -> float:
    preds, targs = preds.double(), targs.double()
    return _finite_ratio((targs - preds).var(unbiased=False), targs.var(unbiased=False))


def _pearson(x: torch.Tensor, y: torch.Tensor) -> float:
    x, y = x.double(), y.double()
    x, y = x - x.mean(), y - y.mean()
    den = (x.square().sum() * y.square().sum()).sqrt()
    return float("nan") if den == 0 else _to_python((x * y).sum() / den)


def _average_ranks(x: torch.Tensor) -> torch.Tensor:
    """Ranks 1..n, ties sharing the mean of the ranks they span."""
    values, inverse, counts = torch.unique(x, sorted=True, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    return (ends - (counts.double() - 1) / 2)[inverse]


def _spearman(x: torch.Tensor, y: torch.Tensor) -> float:
    return _pearson(_average_ranks(x.double()), _average_ranks(y.double()))


class R2Score(AccumMetric):
    """Coefficient of determination `1 - SS_res / SS_tot` over all (flattened) items.

    Like scikit-learn, 1.0 for constant targets predicted exactly and 0.0 for constant targets missed.
    """

    def __init__(self) -> None:
        super().__init__(_r2, name="r2_score")


class ExplainedVariance(AccumMetric):
    """Explained variance `1 - Var(targ - pred) / Var(targ)` over all (flattened) items."""

    def __init__(self) -> None:
        super().__init__(_explained_variance, name="explained_variance_score")


class PearsonCorrCoef(AccumMetric):
    """Pearson correlation between predictions and targets; NaN if either is constant."""

    def __init__(self) -> None:
        super().__init__(_pearson, name="pearsonr")


class SpearmanCorrCoef(AccumMetric):
    """Spearman rank correlation (Pearson correlation of the tie-averaged ranks)."""

    def __init__(self) -> None:
        super().__init__(_spearman, name="spearmanr")
