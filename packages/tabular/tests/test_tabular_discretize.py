"""Binning continuous columns: `quantile_edges`, `target_edges` (against scikit-learn's trees) and the
`Discretize` proc (learned on the training rows, unseen values, missing values, decoding, a learner)."""

import numpy as np
import pandas as pd
import pytest

from lamina.core.data.blocks import MultiCategoryBlock
from lamina.core.data.transforms import Normalize
from lamina.core.metrics import accuracy
from lamina.tabular.binning import BinStrategy, quantile_edges, target_edges
from lamina.tabular.core import TabularPandas
from lamina.tabular.data import TabularDataLoaders
from lamina.tabular.discretize import Discretize
from lamina.tabular.learner import tabular_learner
from lamina.tabular.procs import Categorify, FillMissing

INF = np.inf


def test_quantile_edges_equal_counts_and_point_masses():
    x = np.arange(1.0, 101.0)
    assert quantile_edges(x, 4).tolist() == [25.0, 50.0, 75.0]
    mostly_zero = np.concatenate([np.zeros(90), np.arange(1.0, 11.0)])
    edges = quantile_edges(mostly_zero, 4)
    assert edges.tolist() == [0.0]  # the point mass takes the first three quarters: two bins are left
    counts = np.bincount(np.searchsorted(edges, mostly_zero, side="left"))
    assert counts.tolist() == [90, 10]
    assert quantile_edges(np.full(7, 3.0), 4).size == 0  # a constant column has nothing to cut


def test_target_edges_find_a_step_in_the_target():
    x = np.arange(100.0)
    y = (x > 37).astype(float)
    assert target_edges(x, y, n_bins=2).tolist() == [37.5]  # halfway between 37 and 38
    assert target_edges(x, y, n_bins=8).tolist() == [37.5]  # a pure bin is not cut further
    # two steps: the bigger one is found first
    y2 = np.stack([(x > 37).astype(float), (x > 80).astype(float)], axis=1)
    assert target_edges(x, y2, n_bins=3).tolist() == [37.5, 80.5]
    assert target_edges(x, y2, n_bins=2).tolist() == [37.5]


def test_target_edges_respect_min_leaf():
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    y = (x + rng.normal(scale=0.5, size=500) > 0).astype(float)
    edges = target_edges(x, y, n_bins=16, min_leaf=40)
    counts = np.bincount(np.searchsorted(edges, x, side="left"), minlength=len(edges) + 1)
    assert len(edges) >= 2 and counts.min() >= 40
    with pytest.raises(ValueError, match="one target row each"):
        target_edges(x, y[:10], n_bins=4)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_target_edges_match_a_scikit_learn_tree(task):
    tree = pytest.importorskip("sklearn.tree")
    rng = np.random.default_rng(1)
    x = rng.integers(0, 5_000, size=3_000).astype(np.float64)  # exact in float32, as scikit-learn uses
    if task == "classification":
        y = np.digitize(np.sin(x / 700) + rng.normal(scale=0.4, size=x.size), [-0.3, 0.4])
        model = tree.DecisionTreeClassifier(max_leaf_nodes=12, min_samples_leaf=25, random_state=0)
        targets = np.eye(3)[y]
    else:
        y = np.sin(x / 700) + rng.normal(scale=0.4, size=x.size)
        model = tree.DecisionTreeRegressor(max_leaf_nodes=12, min_samples_leaf=25, random_state=0)
        targets = y
    model.fit(x[:, None], y)
    expected = np.sort(model.tree_.threshold[model.tree_.feature >= 0])
    assert target_edges(x, targets, n_bins=12, min_leaf=25).tolist() == expected.tolist()


def _table(df, procs, splits=None, **kwargs):
    return TabularPandas(df, procs, cont_names=["x"], y_names="y", splits=splits, **kwargs)


def test_discretize_learns_on_the_training_rows_only():
    x = np.arange(40.0)
    df = pd.DataFrame({"x": x, "y": np.where(x > 9, "hi", "lo")})
    train, valid = list(range(30)), list(range(30, 40))
    to = _table(df, [Discretize(n_bins=4, min_leaf=2), Categorify], splits=(train, valid))
    disc = to.procs[0]
    assert isinstance(disc, Discretize) and disc.edges["x"].tolist() == [9.5]
    flipped = df.copy()
    flipped.loc[valid, "y"] = np.where(x[valid] > 35, "lo", "hi")  # another step, in validation rows only
    flipped.loc[valid, "x"] = x[valid] * 100
    to2 = _table(flipped, [Discretize(n_bins=4, min_leaf=2), Categorify], splits=(train, valid))
    assert to2.procs[0].edges["x"].tolist() == [9.5]


def test_discretize_adds_interval_categories_and_decodes_to_them():
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], "y": list("aaaabbbb")})
    to = _table(df, [Categorify, Discretize(n_bins=2, min_leaf=1)])  # given after Categorify: runs first
    assert to.cat_names == ["x_bin"] and to.cont_names == ["x"]
    low, high = pd.Interval(-INF, 4.5, closed="right"), pd.Interval(4.5, INF, closed="right")
    assert list(to.classes["x_bin"]) == ["#na#", low, high]
    assert to.items["x_bin"].tolist() == [1, 1, 1, 1, 2, 2, 2, 2]
    assert to.items["x"].tolist() == df["x"].tolist()  # the continuous column stays
    decoded = to.decode().items
    assert decoded["x_bin"].tolist() == [low] * 4 + [high] * 4
    assert to.procs[0].bins("x").tolist() == [low, high]


def test_discretize_unseen_and_missing_values_in_new_rows():
    df = pd.DataFrame({"x": np.arange(20.0), "y": ["a"] * 10 + ["b"] * 10})
    to = _table(df, [Discretize(n_bins=2, min_leaf=2), Categorify])
    new = to.new(pd.DataFrame({"x": [-1e6, 9.5, 9.50001, 1e6, np.nan], "y": list("aabba")})).process()
    assert new.cat_names == ["x_bin"]
    assert new.items["x_bin"].tolist() == [1, 1, 2, 2, 0]  # beyond the range: end bins; missing: '#na#'
    assert new.decode().items["x_bin"].tolist()[-1] == "#na#"


def test_discretize_after_fill_missing_bins_the_filled_values():
    df = pd.DataFrame({"x": [1.0, 2.0, np.nan, 8.0, 9.0, 10.0], "y": list("aaabbb")})
    to = _table(df, [FillMissing, Discretize(n_bins=2, min_leaf=1), Categorify, Normalize])
    assert to.cat_names == ["x_na", "x_bin"]
    assert to.items["x_bin"].tolist()[2] == 2  # filled with the median (8.0): the upper bin


def test_discretize_regression_and_quantile_strategies():
    x = np.arange(60.0)
    df = pd.DataFrame({"x": x, "y": np.where(x > 20, 5.0, 1.0)})
    to = _table(df, [Discretize(n_bins=3, min_leaf=5), Categorify])
    assert to.procs[0].edges["x"].tolist() == [20.5]
    quantile = _table(df, [Discretize(n_bins=3, strategy=BinStrategy.quantile), Categorify])
    assert quantile.procs[0].edges["x"].tolist() == [19.0, 39.0]
    # without a target only the quantile strategy can place bins
    unlabelled = TabularPandas(
        df[["x"]], [Discretize(n_bins=3, strategy=BinStrategy.quantile)], cont_names="x"
    )
    assert unlabelled.procs[0].edges["x"].tolist() == [19.0, 39.0]
    with pytest.raises(ValueError, match="no target column"):
        TabularPandas(df[["x"]], [Discretize], cont_names="x")


def test_discretize_multi_label_targets_and_a_custom_strategy():
    x = np.arange(60.0)
    df = pd.DataFrame({"x": x, "a": x > 20, "b": x > 45})
    labels = MultiCategoryBlock(encoded=True, vocab=["a", "b"])
    to = TabularPandas(
        df, [Discretize(n_bins=3, min_leaf=5)], cont_names="x", y_names=["a", "b"], y_block=labels
    )
    assert to.procs[0].edges["x"].tolist() == [20.5, 45.5]  # a cut for each label's step

    def fixed(values, targets, n_bins, min_leaf):
        assert targets.shape == (60, 2) and (n_bins, min_leaf) == (3, 5)
        return np.array([50.0, 10.0, 10.0])

    custom = TabularPandas(
        df, [Discretize(3, fixed, min_leaf=5), Categorify], cont_names="x", y_names=["a", "b"], y_block=labels
    )
    assert custom.procs[0].edges["x"].tolist() == [10.0, 50.0]  # sorted, duplicates dropped
    assert custom.items["x_bin"].tolist()[9:12] == [1, 1, 2]


def test_discretize_chosen_columns_and_a_column_without_edges():
    df = pd.DataFrame({"x": np.arange(10.0), "z": np.arange(10.0), "k": [3.0] * 10, "y": list("aaaaabbbbb")})
    to = TabularPandas(
        df,
        [Discretize(n_bins=4, min_leaf=1, names=["x", "k"]), Categorify],
        cont_names=["x", "z", "k"],
        y_names="y",
    )
    assert to.cat_names == ["x_bin"]  # z not asked for; the constant k has no edge, so no bin column
    assert list(to.procs[0].edges) == ["x"]


def test_discretize_errors():
    with pytest.raises(ValueError, match="n_bins must be an int >= 2"):
        Discretize(n_bins=1)
    with pytest.raises(ValueError, match="min_leaf"):
        Discretize(min_leaf=0)
    with pytest.raises(TypeError, match="strategy"):
        Discretize(strategy="target")
    df = pd.DataFrame({"x": np.arange(6.0), "x_bin": list("abcabc"), "y": list("aaabbb")})
    with pytest.raises(ValueError, match=r"already has column\(s\) \['x_bin'\]"):
        TabularPandas(df, [Discretize], cont_names="x", y_names="y")
    with pytest.raises(KeyError, match=r"names \['x_bin'\] are not continuous columns"):
        TabularPandas(df, [Discretize(names="x_bin")], cat_names="x_bin", cont_names="x", y_names="y")
    to = TabularPandas(df, [Discretize(min_leaf=1, suffix="_q"), Categorify], cont_names="x", y_names="y")
    with pytest.raises(KeyError, match="no bins for column 'z'"):
        to.procs[0].bins("z")


def test_a_learner_with_bin_columns_predicts_a_row(adult):
    from lamina.tabular.samples import ADULT_CAT_NAMES, ADULT_CONT_NAMES

    dls = TabularDataLoaders.from_df(
        adult,
        procs=[Categorify, FillMissing, Discretize(n_bins=8), Normalize],
        cat_names=ADULT_CAT_NAMES,
        cont_names=ADULT_CONT_NAMES,
        y_names="salary",
        valid_idx=list(range(1_600, 2_000)),
        bs=64,
        seed=0,
    )
    learn = tabular_learner(dls, layers=[20], metrics=accuracy)
    n_bins = [len(dls.classes[f"{n}_bin"]) for n in ADULT_CONT_NAMES if f"{n}_bin" in dls.cat_names]
    assert n_bins and all(3 <= n <= 9 for n in n_bins)  # '#na#' + 2 to 8 bins
    assert len(learn.model.embeds) == len(ADULT_CAT_NAMES) + len(n_bins)
    with learn.quiet():
        learn.fit(1, 1e-2)
    row, label, probs = learn.predict(adult.iloc[1_700])
    assert label in ("<=50K", ">50K") and probs.shape == (2,)
    age = adult["age"].iloc[1_700]
    assert age in row["age_bin"].iloc[0]  # the decoded bin is the interval holding the value


def test_discretize_is_described_as_data_and_rebuilt():
    from lamina.core.learner.describe import from_data, to_data

    df = pd.DataFrame({"x": np.arange(40.0), "y": ["a"] * 20 + ["b"] * 20})
    to = _table(df, [Discretize(4, min_leaf=2, suffix="_q"), Categorify])
    rebuilt = from_data(to_data(to.procs[0]))
    assert isinstance(rebuilt, Discretize) and rebuilt.strategy is BinStrategy.target
    assert rebuilt.edges["x"].tolist() == [19.5] and rebuilt.bin_name("x") == "x_q"
