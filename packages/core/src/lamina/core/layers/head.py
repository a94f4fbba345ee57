"""`create_head`: the classifier head put on top of a pretrained body (pool, flatten, `LinBnDrop`s)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from lamina.core.layers.basic import Flatten, SigmoidRange
from lamina.core.layers.linear import LinBnDrop
from lamina.core.layers.pooling import AdaptiveConcatPool2d
from lamina.core.layers.recorded import register_function

__all__ = ["create_head"]


@register_function("lamina.core.create_head")
def create_head(
    nf: int,
    n_out: int,
    lin_ftrs: Sequence[int] | None = None,
    ps: float | Sequence[float] = 0.5,
    pool: bool = True,
    concat_pool: bool = True,
    first_bn: bool = True,
    bn_final: bool = False,
    lin_first: bool = False,
    y_range: tuple[float, float] | None = None,
) -> nn.Sequential:
    """A head mapping `nf` body features to `n_out` outputs.

    Layers: pooling and `Flatten` (if `pool`: max+avg `AdaptiveConcatPool2d`, doubling `nf`, or
    average pooling), then `LinBnDrop` blocks through the widths `[nf, *lin_ftrs, n_out]` (`lin_ftrs`
    defaults to `[512]`) with ReLU between them, batch norm (the first one only if `first_bn`) and
    dropout `ps`: one number gives the last block `ps` and the others `ps / 2`, a sequence gives one
    value per block. `bn_final` adds a final `BatchNorm1d`, `y_range=(low, high)` a `SigmoidRange`.
    With `lin_first`, each block is linear first and a plain `nn.Linear` ends the head.
    """
    for name, value in (("nf", nf), ("n_out", n_out)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"create_head: {name} must be a positive int, got {value!r}")
    if pool and concat_pool:
        nf *= 2
    widths = [nf, 512, n_out] if lin_ftrs is None else [nf, *lin_ftrs, n_out]
    n_blocks = len(widths) - 1
    ps_list = [float(ps)] if isinstance(ps, (int, float)) else [float(p) for p in ps]
    if len(ps_list) == 1:
        ps_list = [ps_list[0] / 2] * (n_blocks - 1) + ps_list
    if len(ps_list) != n_blocks:
        raise ValueError(
            f"create_head: ps has {len(ps_list)} values for {n_blocks} linear blocks (widths {widths}); "
            "give one value or one per block"
        )
    bns = [first_bn] + [True] * (n_blocks - 1)
    acts: list[nn.Module | None] = [nn.ReLU(inplace=True) for _ in range(n_blocks - 1)] + [None]
    layers: list[nn.Module] = []
    if pool:
        layers += [AdaptiveConcatPool2d() if concat_pool else nn.AdaptiveAvgPool2d(1), Flatten()]
    if lin_first:
        layers.append(nn.Dropout(ps_list.pop(0)))
        blocks = zip(widths[:-2], widths[1:-1], bns, ps_list, acts)
    else:
        blocks = zip(widths[:-1], widths[1:], bns, ps_list, acts)
    for n_in, n_next, bn, p, act in blocks:
        layers += list(LinBnDrop(n_in, n_next, bn=bn, p=p, act=act, lin_first=lin_first))
    if lin_first:
        layers.append(nn.Linear(widths[-2], n_out))
    if bn_final:
        layers.append(nn.BatchNorm1d(widths[-1], momentum=0.01))
    if y_range is not None:
        layers.append(SigmoidRange(*y_range))
    return nn.Sequential(*layers)
