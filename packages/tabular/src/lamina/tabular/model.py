"""`TabularModel`: embeddings for the categorical columns, batch norm for the continuous ones, then
`LinBnDrop` layers; `emb_sz_rule` / `get_emb_sz` size the embeddings, `tabular_config` collects options.
"""

from __future__ import annotations

import inspect
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from lamina.core.basics.meta import delegates
from lamina.core.layers.basic import Embedding, SigmoidRange
from lamina.core.layers.linear import LinBnDrop
from lamina.core.layers.recorded import RecordedInit
from lamina.core.plugins.registry import register_class
from lamina.tabular.checks import TabularKeyError
from lamina.tabular.table import Tabular

__all__ = ["emb_sz_rule", "get_emb_sz", "TabularModel", "tabular_config"]


def emb_sz_rule(n_cat: int) -> int:
    """The embedding size for a column with `n_cat` categories: `min(600, round(1.6 * n_cat ** 0.56))`."""
    if isinstance(n_cat, bool) or not isinstance(n_cat, int) or n_cat < 1:
        raise ValueError(f"emb_sz_rule: n_cat must be a positive int, got {n_cat!r}")
    return min(600, round(1.6 * n_cat**0.56))


def _table_of(source: Any) -> Tabular:
    if isinstance(source, Tabular):
        return source
    for attr in ("tabular", "dataset", "train_ds"):
        found = getattr(source, attr, None)
        if isinstance(found, Tabular):
            return found
    raise TypeError(
        "get_emb_sz expects a processed Tabular, TabularDataLoaders or TabDataLoader, got "
        f"{type(source).__name__}"
    )


def get_emb_sz(to: Any, sz_dict: Mapping[Hashable, int] | None = None) -> list[tuple[int, int]]:
    """`(n_categories, embedding size)` for each categorical column of the table `to` (or of loaders over
    it), in `cat_names` order: the size from `sz_dict[column]` when given, else `emb_sz_rule`. The number of
    categories counts `'#na#'`."""
    to = _table_of(to)
    sz_dict = dict(sz_dict or {})
    unknown = [n for n in sz_dict if n not in to.cat_names]
    if unknown:
        raise TabularKeyError(
            f"get_emb_sz: sz_dict names {unknown}, which are not categorical columns {to.cat_names}"
        )
    classes = to.classes
    sizes = []
    for name in to.cat_names:
        if name not in classes:
            raise TabularKeyError(
                f"get_emb_sz: categorical column {name!r} has no vocabulary; add Categorify to the procs"
            )
        n_cat = len(classes[name])
        sizes.append((n_cat, int(sz_dict.get(name, emb_sz_rule(n_cat)))))
    return sizes


@register_class("lamina.tabular.RecordedReLU")
class RecordedReLU(RecordedInit, nn.ReLU):
    """`nn.ReLU` that records its arguments: the default activation of `TabularModel`, saved by name."""


def _activation(act_cls: nn.Module | type[nn.Module] | None) -> nn.Module | None:
    """The activation module: `act_cls` itself (an instance), a new instance of it (a class), or None."""
    if act_cls is None or isinstance(act_cls, nn.Module):
        return act_cls
    if isinstance(act_cls, type) and issubclass(act_cls, nn.Module):
        return act_cls()
    raise TypeError(f"TabularModel: act_cls must be an activation module or module class, got {act_cls!r}")


def _dropouts(ps: float | Sequence[float] | None, n: int) -> list[float]:
    if ps is None:
        return [0.0] * n
    if isinstance(ps, (int, float)):
        return [float(ps)] * n
    ps = [float(p) for p in ps]
    if len(ps) != n:
        raise ValueError(
            f"TabularModel: ps has {len(ps)} dropout probabilities for {n} layers; give one per layer"
        )
    return ps


@register_class("lamina.tabular.TabularModel")
class TabularModel(RecordedInit, nn.Module):
    """A model for tables: `forward(x_cat, x_cont)`.

    Each categorical column goes through its `Embedding(n_cat, size)` (`emb_szs`), the embeddings are
    concatenated and dropped out with `embed_p`; the continuous columns go through `BatchNorm1d` when
    `bn_cont`; both are concatenated and fed to one `LinBnDrop` per size in `layers` (dropout `ps`,
    activation `act_cls`: a module, shared by the layers, or a module class; default `ReLU(inplace=True)`;
    batch norm when `use_bn`, linear first when `lin_first`), then to a last
    `LinBnDrop` with `out_sz` outputs (batch norm only when `bn_final`, no activation) and, when
    `y_range=(low, high)`, a `SigmoidRange`. Attributes `embeds`, `emb_drop`, `bn_cont`, `layers`,
    `n_emb`, `n_cont` are the parts; a subclass (e.g. collab's `EmbeddingNN`) may build on them.
    """

    def __init__(
        self,
        emb_szs: Sequence[tuple[int, int]],
        n_cont: int,
        out_sz: int,
        layers: Sequence[int],
        ps: float | Sequence[float] | None = None,
        embed_p: float = 0.0,
        y_range: tuple[float, float] | None = None,
        use_bn: bool = True,
        bn_final: bool = False,
        bn_cont: bool = True,
        act_cls: nn.Module | type[nn.Module] | None = RecordedReLU(inplace=True),
        lin_first: bool = True,
    ):
        super().__init__()
        emb_szs = [tuple(int(v) for v in sz) for sz in emb_szs]
        if any(len(sz) != 2 or min(sz) < 1 for sz in emb_szs):
            raise ValueError(
                f"TabularModel: emb_szs must be (n_categories, size) pairs of positive ints, got {emb_szs}"
            )
        if isinstance(n_cont, bool) or not isinstance(n_cont, int) or n_cont < 0:
            raise ValueError(f"TabularModel: n_cont must be a non-negative int, got {n_cont!r}")
        if isinstance(out_sz, bool) or not isinstance(out_sz, int) or out_sz < 1:
            raise ValueError(f"TabularModel: out_sz must be a positive int, got {out_sz!r}")
        if not emb_szs and n_cont == 0:
            raise ValueError(
                "TabularModel: no input: give categorical embeddings (emb_szs) or continuous inputs"
            )
        layers = [int(n) for n in layers]
        self.embeds = nn.ModuleList([Embedding(ni, nf) for ni, nf in emb_szs])
        self.emb_drop = nn.Dropout(embed_p)
        self.bn_cont = nn.BatchNorm1d(n_cont) if bn_cont and n_cont else None
        self.n_emb, self.n_cont = sum(nf for _, nf in emb_szs), n_cont
        sizes = [self.n_emb + n_cont, *layers, out_sz]
        dropouts = [*_dropouts(ps, len(layers)), 0.0]
        act = _activation(act_cls)
        blocks: list[nn.Module] = []
        for i, p in enumerate(dropouts):
            last = i == len(dropouts) - 1
            blocks.append(
                LinBnDrop(
                    sizes[i],
                    sizes[i + 1],
                    bn=use_bn and (not last or bn_final),
                    p=p,
                    act=None if last else act,
                    lin_first=lin_first,
                )
            )
        if y_range is not None:
            low, high = y_range
            blocks.append(SigmoidRange(low, high))
        self.layers = nn.Sequential(*blocks)

    def forward(self, x_cat: Tensor, x_cont: Tensor | None = None) -> Tensor:
        parts = []
        if self.n_emb:
            if x_cat.ndim != 2 or x_cat.shape[1] != len(self.embeds):
                raise ValueError(
                    f"TabularModel: x_cat has shape {tuple(x_cat.shape)}; expected (batch, "
                    f"{len(self.embeds)}), one class index per categorical column"
                )
            embedded = [emb(x_cat[:, i]) for i, emb in enumerate(self.embeds)]
            parts.append(self.emb_drop(torch.cat(embedded, 1)))
        if self.n_cont:
            if x_cont is None or x_cont.ndim != 2 or x_cont.shape[1] != self.n_cont:
                shape = None if x_cont is None else tuple(x_cont.shape)
                raise ValueError(f"TabularModel: x_cont has shape {shape}; expected (batch, {self.n_cont})")
            parts.append(self.bn_cont(x_cont) if self.bn_cont is not None else x_cont)
        x = parts[0] if len(parts) == 1 else torch.cat(parts, 1)
        return self.layers(x)


_MODEL_ARGS = ("emb_szs", "n_cont", "out_sz", "layers")


@delegates(TabularModel.__init__)
def tabular_config(**kwargs: Any) -> dict[str, Any]:
    """The keyword arguments of `TabularModel` (`ps`, `embed_p`, `y_range`, `use_bn`, `bn_final`,
    `bn_cont`, `act_cls`, `lin_first`) as a dict for `tabular_learner(config=...)`, checked by name."""
    known = [
        n for n in inspect.signature(TabularModel.__init__).parameters if n not in ("self", *_MODEL_ARGS)
    ]
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise TypeError(f"tabular_config: unknown argument(s) {unknown}; TabularModel takes {known}")
    return dict(kwargs)
