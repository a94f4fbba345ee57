"""Which parameters a learner optimizes: the default splitter and the normalization/bias selectors."""

from __future__ import annotations

from torch import nn

__all__ = ["NORM_TYPES", "trainable_params", "norm_bias_params"]

# Layers whose affine parameters count as "batch-norm" parameters: kept trainable in frozen groups
# when `train_bn=True` and (with the biases) exempt from weight decay when `wd_bn_bias=False`.
NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
    nn.LazyBatchNorm1d,
    nn.LazyBatchNorm2d,
    nn.LazyBatchNorm3d,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.LayerNorm,
)


def trainable_params(model: nn.Module) -> list[nn.Parameter]:
    """The default splitter: one parameter group with every parameter that requires a gradient."""
    return [p for p in model.parameters() if p.requires_grad]


def norm_bias_params(model: nn.Module, with_bias: bool = True) -> list[nn.Parameter]:
    """Parameters of the normalization layers in `model` (see `NORM_TYPES`), plus every module's
    `bias` when `with_bias`; each parameter once, in module order."""
    out: dict[int, nn.Parameter] = {}
    for module in model.modules():
        if isinstance(module, NORM_TYPES):
            for p in module.parameters(recurse=False):
                out.setdefault(id(p), p)
        elif with_bias:
            bias = getattr(module, "bias", None)
            if isinstance(bias, nn.Parameter):
                out.setdefault(id(bias), bias)
    return list(out.values())
