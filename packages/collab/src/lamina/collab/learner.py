"""`collab_learner` and `CollabLearner`: a `Learner` on `EmbeddingDotBias` (or `EmbeddingNN`) for ratings.

dls = CollabDataLoaders.from_df(ratings, bs=64, seed=42)
learn = collab_learner(dls, n_factors=50, y_range=[0, 5.5])
learn.fit_one_cycle(3)
learn.predict({"userId": 15, "movieId": 1})        # (row, rating, raw output)
learn.model.bias([1, 10, 32])                       # item biases by movie id

Users or items the training rows never had raise `UnseenIdError` (naming them) at prediction time: the
model has no trained embedding for them, and `'#na#'`'s untrained one would give a meaningless rating.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import pandas as pd
import torch

from lamina.collab.data import check_known_ids
from lamina.collab.models import EmbeddingDotBias, EmbeddingNN
from lamina.core.basics.meta import delegates
from lamina.core.learner.learner import Learner
from lamina.core.losses import MSELossFlat
from lamina.tabular.data import TabularDataLoaders
from lamina.tabular.learner import TabularLearner
from lamina.tabular.model import get_emb_sz, tabular_config

__all__ = ["CollabLearner", "collab_learner"]


class CollabLearner(TabularLearner):
    """A `Learner` for ratings (built by `collab_learner`): `predict` one (user, item) pair."""

    def predict(self, row: Any) -> tuple[pd.DataFrame, float, torch.Tensor]:
        """Predict the rating of one (user, item) pair: `row` is a dict, a Series or a one-row DataFrame with
        the user and item columns (a rating column, if present, is ignored). Returns `(the row with the
        predicted rating in the rating column, the predicted rating, the model's output)`. A user or item
        that was not in the training data raises `UnseenIdError`."""
        if isinstance(row, pd.Series):
            frame = row.to_frame().T.infer_objects()
        elif isinstance(row, Mapping):
            frame = pd.DataFrame([dict(row)])
        elif isinstance(row, pd.DataFrame):
            frame = row
        else:
            raise TypeError(
                "CollabLearner.predict expects a row as a dict, a pandas Series or a one-row DataFrame with "
                f"the user and item columns, got {row!r:.80}"
            )
        dls = self.dls
        check_known_ids(frame, dls.classes, dls.cat_names[:2], "CollabLearner.predict")
        return super().predict(frame)


def _check_dls(dls: Any) -> None:
    if not isinstance(dls, TabularDataLoaders):
        raise TypeError(
            "collab_learner expects CollabDataLoaders (CollabDataLoaders.from_df(ratings)) "
            f"or TabularDataLoaders with a user and an item categorical column, got {type(dls).__name__}"
        )
    if len(dls.cat_names) != 2 or dls.cont_names:
        raise ValueError(
            "collab_learner: the data must have exactly two categorical columns (user, item) "
            f"and no continuous one, got cat_names={dls.cat_names}, cont_names={dls.cont_names}"
        )


@delegates(Learner.__init__, but=("dls", "model", "loss_func"))
def collab_learner(
    dls: TabularDataLoaders,
    n_factors: int = 50,
    use_nn: bool = False,
    emb_szs: Mapping[Hashable, int] | None = None,
    layers: Sequence[int] | None = None,
    config: Mapping[str, Any] | None = None,
    y_range: Sequence[float] | None = None,
    loss_func: Any = None,
    **kwargs: Any,
) -> CollabLearner:
    """A `CollabLearner` for the ratings in `dls`.

    - default: `EmbeddingDotBias.from_classes(n_factors, dls.classes, y_range=y_range)`;
    - `use_nn=True`: `EmbeddingNN` with embedding sizes by `emb_sz_rule` unless `emb_szs` gives a column's,
      hidden `layers` (default `[n_factors]`) and `TabularModel` options in `config` (see `tabular_config`;
      its `y_range` is used when `y_range` is None).

    `y_range` (e.g. `[0, 5.5]`) squashes the predicted ratings into that range. `loss_func` defaults to
    `MSELossFlat()`; `kwargs` go to `Learner` (`metrics`, `lr`, `wd`, `opt_func`, `cbs`, ...).
    """
    _check_dls(dls)
    config = tabular_config(**(config or {}))
    if y_range is None:
        y_range = config.pop("y_range", None)
    config.pop("y_range", None)
    if y_range is not None:
        y_range = tuple(y_range)
    if use_nn:
        if emb_szs is not None and not isinstance(emb_szs, Mapping):
            raise TypeError(f"collab_learner: emb_szs maps column names to embedding sizes, got {emb_szs!r}")
        layers = [n_factors] if layers is None else list(layers)
        model: torch.nn.Module = EmbeddingNN(get_emb_sz(dls, emb_szs), layers, y_range=y_range, **config)
    else:
        unused = [name for name, value in (("emb_szs", emb_szs), ("layers", layers)) if value is not None]
        unused += [f"config[{k!r}]" for k in config]
        if unused:
            raise ValueError(
                f"collab_learner: {', '.join(unused)} only apply to the neural model; pass use_nn=True or "
                "drop them"
            )
        classes = dls.classes
        model = EmbeddingDotBias.from_classes(
            n_factors, classes, user=dls.cat_names[0], item=dls.cat_names[1], y_range=y_range
        )
    return CollabLearner(dls, model, loss_func=MSELossFlat() if loss_func is None else loss_func, **kwargs)
