"""`tabular_learner` and `TabularLearner`: a `Learner` on a `TabularModel`, with `predict` on one row and
`show_results` as a DataFrame."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from lamina.core.basics.meta import delegates
from lamina.core.learner.learner import Learner
from lamina.tabular.data import TabularDataLoaders
from lamina.tabular.model import TabularModel, get_emb_sz, tabular_config
from lamina.tabular.targets import CategorizeTarget, MultiLabelTarget

__all__ = ["TabularLearner", "tabular_learner"]


def _one_row(row: Any) -> pd.DataFrame:
    """`row` (a Series, a dict, or a one-row DataFrame) as a one-row DataFrame."""
    if isinstance(row, pd.Series):
        frame = row.to_frame().T
        return frame.infer_objects()
    if isinstance(row, Mapping):
        return pd.DataFrame([dict(row)])
    if isinstance(row, pd.DataFrame):
        if len(row) != 1:
            raise ValueError(
                f"TabularLearner.predict takes one row, got a DataFrame of {len(row)} rows; for many rows "
                "use learn.get_preds(dl=learn.dls.test_dl(df))"
            )
        return row
    raise TypeError(
        "TabularLearner.predict expects a row as a pandas Series, a dict or a one-row DataFrame, got "
        f"{row!r:.80}"
    )


class TabularLearner(Learner):
    """A `Learner` for tables (built by `tabular_learner`): `predict(row)` and `show_results()`."""

    def predict(self, row: Any) -> tuple[pd.DataFrame, Any, torch.Tensor]:
        """Predict one row (a Series such as `df.iloc[0]`, a dict, or a one-row DataFrame); it is processed
        with the learned procs (missing values, unseen categories). Returns `(the row decoded as a DataFrame
        with the prediction in the target column(s), the decoded prediction, the probabilities)`: the decoded
        prediction is the class label, the predicted value(s) of a regression, or the list of predicted
        labels of a multi-label target; the third item is the output after the loss's activation (softmax /
        sigmoid probabilities, or the raw values of a regression)."""
        dls = self.dls
        if not isinstance(dls, TabularDataLoaders):
            raise TypeError(f"TabularLearner.predict needs TabularDataLoaders, got {type(dls).__name__}")
        dl = dls.test_dl(_one_row(row), with_labels=False)
        inputs, preds, _, decoded = self.get_preds(dl=dl, with_input=True, with_decoded=True)
        table = dl.decode(tuple(inputs))
        target = table.target
        frame = table.items[table.x_names].reset_index(drop=True)
        if isinstance(target, CategorizeTarget):
            prediction: Any = target.decode_preds(decoded)[0]
            frame[table.y_names[0]] = [prediction]
        elif isinstance(target, MultiLabelTarget):
            flags = np.asarray(decoded).reshape(len(decoded), -1)[0].astype(bool)
            prediction = [label for label, on in zip(target.vocab, flags) if on]
            for name, on in zip(table.y_names, flags):
                frame[name] = [bool(on)]
        else:
            values = np.asarray(preds, dtype=np.float64).reshape(len(preds), -1)[0]
            prediction = float(values[0]) if values.size == 1 else values
            for name, value in zip(table.y_names, values):
                frame[name] = [float(value)]
        return frame, prediction, preds[0]

    def show_results(
        self, ds_idx: int = 1, dl: Any = None, max_n: int = 10, shuffle: bool = True, show: bool = True
    ) -> pd.DataFrame:
        """Rows of one batch of the validation set (or `dl`, or `dls[ds_idx]`) decoded, with the decoded
        predictions in `<target>_pred` columns; displayed when `show`, and returned."""
        dl = self._loader(ds_idx, dl)
        if shuffle and callable(getattr(dl, "new", None)):
            dl = dl.new(shuffle=True, drop_last=False)
        b = dl.one_batch()
        _, _, decoded = self.get_preds(dl=[b], with_decoded=True, reorder=False)
        return dl.show_results(b, decoded, max_n=max_n, show=show)


def _n_out(dls: TabularDataLoaders, n_out: int | None) -> int:
    if n_out is not None:
        return n_out
    c = dls.c
    if not c:
        raise ValueError(
            "tabular_learner: cannot infer the number of outputs (the data has no target); pass n_out="
        )
    return c


@delegates(Learner.__init__, but=("dls", "model"))
def tabular_learner(
    dls: TabularDataLoaders,
    layers: Sequence[int] | None = None,
    emb_szs: Mapping[Hashable, int] | None = None,
    config: Mapping[str, Any] | None = None,
    n_out: int | None = None,
    y_range: tuple[float, float] | None = None,
    **kwargs: Any,
) -> TabularLearner:
    """A `TabularLearner` on a `TabularModel` for `dls`: hidden `layers` (default `[200, 100]`), embedding
    sizes by `emb_sz_rule` unless `emb_szs` gives a column's, model options in `config` (see
    `tabular_config`), `n_out` outputs (default: the number of classes, labels or regression targets),
    `y_range` for a regression's `SigmoidRange`. `kwargs` go to `Learner` (`metrics`, `loss_func`, `lr`,
    `opt_func`, `cbs`, ...); the loss defaults to the target's (`dls.loss_func`)."""
    if not isinstance(dls, TabularDataLoaders):
        raise TypeError(
            "tabular_learner expects TabularDataLoaders (TabularDataLoaders.from_df or to.dataloaders()), "
            f"got {type(dls).__name__}"
        )
    if emb_szs is not None and not isinstance(emb_szs, Mapping):
        raise TypeError(f"tabular_learner: emb_szs maps column names to embedding sizes, got {emb_szs!r}")
    config = tabular_config(**(config or {}))
    if y_range is None:
        y_range = config.pop("y_range", None)
    config.pop("y_range", None)
    layers = [200, 100] if layers is None else list(layers)
    model = TabularModel(
        get_emb_sz(dls.tabular, emb_szs),
        len(dls.cont_names),
        _n_out(dls, n_out),
        layers,
        y_range=y_range,
        **config,
    )
    return TabularLearner(dls, model, **kwargs)
