"""Export of tabular learners: the procs and the table's columns as data, so that `load_learner` gives loaders
on which `test_dl(df)`, `get_preds` and `predict(row)` work as on the trained learner.

Importing this module (the plugin's learners hook does) registers:
- how each proc is described (`register_export_spec`): `FillMissing` (strategy, fill values, `_na` columns),
  `Categorify` (the vocabularies), `TabularNormalize` (means, stds, integer columns), the target procs
  (`CategorizeTarget`'s vocabulary, `RegressionTarget`'s width, `MultiLabelTarget`'s labels); `Discretize`
  describes itself (`export_args`/`export_state`: its bin edges);
- `pandas.Interval` (the labels of `Discretize`'s bin columns) as `lamina.tabular.Interval`;
- the inference data of `TabDataLoader` (`register_inference_data`): the processed table's column roles,
  procs and loss, the loaders' classes and batch size. The loaded learner's `TabularDataLoaders` hold an
  empty table: no training row travels with the model.

`load_learner` builds a plain `Learner` (the kernel does not store the learner's class), whose generic
`predict` expects a `TfmdDL`: `as_tabular_learner(load_learner(f))` (or `load_tabular_learner(f)`) gives
the `TabularLearner` (`CollabLearner` for ratings) back, with its `predict(row)`.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from lamina.core.layers.recorded import register_function
from lamina.core.learner.describe import register_export_spec
from lamina.core.learner.export import load_learner, register_inference_data
from lamina.core.learner.learner import Learner
from lamina.core.pipeline import Pipeline
from lamina.core.plugins.registry import register_class
from lamina.tabular.data import TabularDataLoaders
from lamina.tabular.learner import TabularLearner
from lamina.tabular.loader import TabDataLoader, TabularTensors
from lamina.tabular.procs import Categorify, FillMissing, FillStrategy, TabularNormalize
from lamina.tabular.table import Tabular
from lamina.tabular.targets import CategorizeTarget, MultiLabelTarget, RegressionTarget

__all__ = [
    "describe_tabular_data",
    "rebuild_tabular_data",
    "register_tabular_learner",
    "as_tabular_learner",
    "load_tabular_learner",
]

# ---- the procs as data -----------------------------------------------------------------------------------
for _name in ("median", "constant", "mode"):
    register_function(f"lamina.tabular.FillStrategy.{_name}")(getattr(FillStrategy, _name))

register_export_spec(
    FillMissing, args=("fill_strategy", "add_col", "fill_vals"), state=("fill_values", "na_dict")
)
register_export_spec(Categorify, args=(), state=("classes",))
register_export_spec(TabularNormalize, args=(), state=("means", "stds", "integer_columns"))
register_export_spec(CategorizeTarget, args=("sort", "add_na"), state=("vocab",))
register_export_spec(RegressionTarget, args=(), state=("c",))
register_export_spec(MultiLabelTarget, args=lambda t: {"vocab": None if t.vocab is None else list(t.vocab)})
register_class(pd.Interval, "lamina.tabular.Interval")
register_export_spec(pd.Interval, args=lambda i: {"left": i.left, "right": i.right, "closed": i.closed})
for _cls in (TabularDataLoaders, TabDataLoader, TabularLearner):
    register_class(_cls, f"lamina.tabular.{_cls.__name__}")


# ---- the inference data ----------------------------------------------------------------------------------
def describe_tabular_data(dls: TabularDataLoaders) -> dict[str, Any]:
    """What inference needs from tabular loaders: the table's procs (with their learned state), column roles
    and loss, the loaders' classes and the validation batch size."""
    if not isinstance(dls, TabularDataLoaders):
        raise TypeError(
            "export: the data of a TabDataLoader must be TabularDataLoaders to be exported, got "
            f"{type(dls).__name__}"
        )
    to = dls.tabular
    procs = list(to.procs.fs)
    valid = dls.loaders[1] if len(dls.loaders) > 1 else dls.loaders[0]
    return {
        "loaders": type(dls),
        "loader": type(valid),
        "bs": valid.bs,
        "procs": procs,
        "target": None if to.target is None else next(i for i, p in enumerate(procs) if p is to.target),
        "loss_func": to.loss_func,
        "cat_names": list(to.cat_names),
        "input_cat_names": list(to._input_cat_names),
        "cont_names": list(to.cont_names),
        "y_names": list(to.y_names),
    }


def _empty_table(desc: dict[str, Any]) -> Tabular:
    cat_names, cont_names, y_names = desc["cat_names"], desc["cont_names"], desc["y_names"]
    columns: dict[Hashable, Any] = {n: np.empty(0, np.int64) for n in cat_names}
    columns.update({n: np.empty(0, np.float32) for n in cont_names})
    items = pd.DataFrame(columns, columns=[*cat_names, *cont_names])
    procs = desc["procs"]
    target = None if desc["target"] is None else procs[desc["target"]]
    to = Tabular(items, Pipeline(procs), cat_names, cont_names, y_names, 0, target=target)
    to.loss_func = desc["loss_func"]
    to._input_cat_names = list(desc["input_cat_names"])
    to.processed = True
    return to


def rebuild_tabular_data(desc: dict[str, Any], path: Path) -> TabularDataLoaders:
    """The `TabularDataLoaders` (of the exported class) over an empty table with the exported procs."""
    to = _empty_table(desc)
    tensors = TabularTensors(
        torch.empty(0, len(to.cat_names), dtype=torch.long), torch.empty(0, len(to.cont_names)), None
    )
    loader_cls, loaders_cls = desc["loader"], desc["loaders"]
    for cls, base, what in (
        (loader_cls, TabDataLoader, "loader"),
        (loaders_cls, TabularDataLoaders, "loaders"),
    ):
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise TypeError(f"load_learner: the exported {what} class {cls!r} is not a {base.__name__}")
    loaders = [
        loader_cls(to, bs=desc["bs"], shuffle=False, drop_last=False, tensors=tensors) for _ in range(2)
    ]
    return loaders_cls(*loaders, path=path, tabular=to)


register_inference_data(TabDataLoader, describe_tabular_data, rebuild_tabular_data)


# ---- the learner's class ---------------------------------------------------------------------------------
_LEARNERS: dict[type, type] = {TabularDataLoaders: TabularLearner}


def register_tabular_learner(loaders_cls: type, learner_cls: type) -> type:
    """Make `as_tabular_learner` give a `learner_cls` for loaders of class `loaders_cls` (e.g. collab's
    `CollabDataLoaders` -> `CollabLearner`). Returns `learner_cls`."""
    if not (isinstance(loaders_cls, type) and issubclass(loaders_cls, TabularDataLoaders)):
        raise TypeError(f"register_tabular_learner: {loaders_cls!r} is not a TabularDataLoaders class")
    if not (isinstance(learner_cls, type) and issubclass(learner_cls, TabularLearner)):
        raise TypeError(f"register_tabular_learner: {learner_cls!r} is not a TabularLearner class")
    _LEARNERS[loaders_cls] = learner_cls
    return learner_cls


def as_tabular_learner(learn: Learner) -> TabularLearner:
    """`learn` (e.g. from `load_learner`) as the tabular learner class of its loaders (`TabularLearner`, or
    `CollabLearner` for ratings), sharing its data, model, loss and settings (`learn` itself if it is one)."""
    dls = learn.dls
    cls = next((_LEARNERS[c] for c in type(dls).__mro__ if c in _LEARNERS), None)
    if cls is None:
        raise TypeError(
            f"as_tabular_learner: the learner's data is {type(dls).__name__}, not TabularDataLoaders; it was "
            "not exported from a tabular learner"
        )
    if isinstance(learn, cls):
        return learn
    res = cls(
        dls,
        learn.model,
        loss_func=learn.loss_func,
        opt_func=learn.opt_func,
        lr=learn.lr,
        splitter=learn.splitter,
        path=learn.path,
        model_dir=learn.model_dir,
        wd=learn.wd,
        wd_bn_bias=learn.wd_bn_bias,
        train_bn=learn.train_bn,
        moms=learn.moms,
    )
    res.logger = learn.logger
    return res


def load_tabular_learner(fname: str | Path, cpu: bool = True, trusted: bool = False) -> TabularLearner:
    """`load_learner(fname, cpu, trusted)` as its tabular learner class (see `as_tabular_learner`)."""
    return as_tabular_learner(load_learner(fname, cpu=cpu, trusted=trusted))
