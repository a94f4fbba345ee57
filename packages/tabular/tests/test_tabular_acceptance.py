"""Acceptance: the paper's tabular code runs on the full UCI Adult table, and a tabular learner comes within
1.5 accuracy points of scikit-learn's HistGradientBoostingClassifier on the same split (Adult, three
random splits; penguins).

On Adult the learner adds target-aware bins of the continuous columns (`Discretize`, learned on the
training rows): with the fastai procs alone the MLP trails gradient boosting by 1.2 to 2.0 points (6 splits
x 3 training seeds), with the bins by -0.2 to 0.4. Same training recipe: bs=256, fit_one_cycle(5, 1e-2).
scikit-learn is used only here, as the reference.
"""

import numpy as np
import pandas as pd
import pytest
import torch

from lamina.core.data.splitters import RandomSplitter
from lamina.core.data.transforms import Normalize
from lamina.core.metrics import accuracy
from lamina.tabular.data import TabularDataLoaders
from lamina.tabular.discretize import Discretize
from lamina.tabular.learner import tabular_learner
from lamina.tabular.procs import Categorify, FillMissing
from lamina.tabular.samples import ADULT_CAT_NAMES as ADULT_CATS
from lamina.tabular.samples import ADULT_CONT_NAMES as ADULT_CONTS
from lamina.tabular.samples import PENGUIN_CAT_NAMES as PENGUIN_CATS
from lamina.tabular.samples import PENGUIN_CONT_NAMES as PENGUIN_CONTS

MAX_GAP = 0.015


@pytest.fixture
def full_adult(shared_data) -> pd.DataFrame:
    df = pd.read_csv(shared_data / "tabular_sample" / "adult.csv")
    assert len(df) == 32_561
    return df


def test_paper_code_runs_on_the_full_adult_csv(full_adult, shared_data):
    torch.manual_seed(0)
    valid_idx = list(range(len(full_adult) - 6_500, len(full_adult)))
    dls = TabularDataLoaders.from_df(
        full_adult,
        shared_data / "tabular_sample",
        procs=[Categorify, FillMissing, Normalize],
        cat_names=ADULT_CATS,
        cont_names=ADULT_CONTS,
        y_names="salary",
        valid_idx=valid_idx,
        bs=64,
        seed=0,
    )
    learn = tabular_learner(dls, layers=[200, 100], metrics=accuracy)
    with learn.quiet():
        learn.fit_one_cycle(3)
    valid_loss, acc = learn.recorder.values[-1][1:]
    assert len(learn.recorder.values) == 3
    majority = (full_adult["salary"].iloc[valid_idx] == "<=50K").mean()
    assert acc > majority + 0.05  # 0.76 by always answering <=50K; the net reaches about 0.85
    assert acc > 0.83


def _hgb_accuracy(df: pd.DataFrame, cats: list, conts: list, target: str, splits) -> float:
    """HistGradientBoostingClassifier (default settings, categories as pandas categoricals) on `splits`."""
    ensemble = pytest.importorskip("sklearn.ensemble")  # only the comparisons need scikit-learn
    threadpoolctl = pytest.importorskip("threadpoolctl")
    x = df[cats + conts].copy()
    for name in cats:
        x[name] = x[name].astype("category")
    train, valid = (np.asarray(list(s)) for s in splits)
    with threadpoolctl.threadpool_limits(1):  # a busy 2-core machine: threads spin against each other
        model = ensemble.HistGradientBoostingClassifier(random_state=0)
        model.fit(x.iloc[train], df[target].iloc[train])
        return float((model.predict(x.iloc[valid]) == df[target].iloc[valid].to_numpy()).mean())


def _net_accuracy(
    df, cats, conts, target, splits, bs, epochs, lr, procs=(Categorify, FillMissing, Normalize)
) -> float:
    torch.manual_seed(0)
    dls = TabularDataLoaders.from_df(
        df,
        procs=list(procs),
        cat_names=cats,
        cont_names=conts,
        y_names=target,
        valid_idx=list(splits[1]),
        bs=bs,
        seed=0,
    )
    learn = tabular_learner(dls, metrics=accuracy)
    with learn.quiet():
        learn.fit_one_cycle(epochs, lr)
    return float(learn.recorder.values[-1][-1])


@pytest.mark.parametrize("split_seed", [42, 0, 1])
def test_within_one_and_a_half_points_of_gradient_boosting_on_adult(full_adult, split_seed):
    splits = RandomSplitter(valid_pct=0.2, seed=split_seed)(range(len(full_adult)))
    reference = _hgb_accuracy(full_adult, ADULT_CATS, ADULT_CONTS, "salary", splits)
    procs = [Categorify, FillMissing, Discretize(n_bins=32), Normalize]
    ours = _net_accuracy(
        full_adult, ADULT_CATS, ADULT_CONTS, "salary", splits, bs=256, epochs=5, lr=1e-2, procs=procs
    )
    assert ours >= reference - MAX_GAP, f"net {ours:.4f} vs gradient boosting {reference:.4f}"


def test_within_one_and_a_half_points_of_gradient_boosting_on_penguins(shared_data):
    df = pd.read_csv(shared_data / "tabular_sample" / "penguins.csv")
    assert df[PENGUIN_CONTS].isna().any().all()  # missing values in every continuous column
    splits = RandomSplitter(valid_pct=0.2, seed=42)(range(len(df)))
    reference = _hgb_accuracy(df, PENGUIN_CATS, PENGUIN_CONTS, "species", splits)
    ours = _net_accuracy(df, PENGUIN_CATS, PENGUIN_CONTS, "species", splits, bs=32, epochs=10, lr=1e-2)
    assert ours >= reference - MAX_GAP, f"net {ours:.4f} vs gradient boosting {reference:.4f}"
