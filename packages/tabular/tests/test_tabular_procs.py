"""The procs one by one: Categorify, FillMissing (each strategy), TabularNormalize."""

import numpy as np
import pandas as pd
import pytest

from lamina.tabular.core import TabularPandas
from lamina.tabular.procs import Categorify, FillMissing, FillStrategy, TabularNormalize


def test_categorify_vocab_codes_and_decoding():
    df = pd.DataFrame({"c": ["b", "a", None, "b", "c"], "n": [3, 1, 2, 3, 9]})
    to = TabularPandas(df, [Categorify], cat_names=["c", "n"], splits=([0, 1, 2, 3], [4]))
    assert to.classes["c"].items == ["#na#", "a", "b"]
    assert to.classes["n"].items == ["#na#", 1, 2, 3]  # integer categories keep their type
    assert to.items["c"].tolist() == [2, 1, 0, 2, 0]  # missing and unseen ('c') -> 0
    assert to.items["n"].tolist() == [3, 1, 2, 3, 0]
    assert to.items["c"].dtype == np.int8
    assert to.decode().items["c"].tolist() == ["b", "a", "#na#", "b", "#na#"]
    assert to.procs[0]["n"] is to.classes["n"]


def test_categorify_keeps_an_ordered_categorical_order_and_drops_categories_not_in_training():
    sizes = pd.Categorical(
        ["small", "large", "medium", "huge"], categories=["small", "medium", "large", "huge"]
    )
    to = TabularPandas(pd.DataFrame({"s": sizes}), [Categorify], cat_names="s", splits=([0, 1, 2], [3]))
    assert to.classes["s"].items == ["#na#", "small", "medium", "large"]
    assert to.items["s"].tolist() == [1, 3, 2, 0]


def test_categorify_with_a_column_it_was_not_set_up_for():
    to = TabularPandas(pd.DataFrame({"c": ["a", "b"]}), [Categorify], cat_names="c")
    proc = to.procs[0]
    other = TabularPandas(pd.DataFrame({"d": ["a"]}), cat_names="d", do_setup=False)
    with pytest.raises(KeyError, match="no vocabulary for categorical column 'd'"):
        proc(other)


def test_categorify_orders_mixed_types_by_type_then_text():
    df = pd.DataFrame({"m": pd.Series(["x", 2, "a", 1], dtype=object)})
    to = TabularPandas(df, [Categorify], cat_names="m", reduce_memory=False)
    assert to.classes["m"].items == ["#na#", 1, 2, "a", "x"]


@pytest.mark.parametrize(
    "strategy, expected",
    [(FillStrategy.median, 3.5), (FillStrategy.mode, 5.0), (FillStrategy.constant, -1.0)],
)
def test_fill_strategies(strategy, expected):
    df = pd.DataFrame({"x": [1.0, 5.0, 5.0, np.nan, 2.0, 3.0, np.nan], "y": [0.0] * 7})
    to = TabularPandas(
        df,
        [FillMissing(strategy, fill_vals={"x": -1.0})],
        cont_names=["x", "y"],
        splits=([0, 1, 2, 3, 4], [5, 6]),
    )
    assert to.items["x"].tolist()[3] == expected and to.items["x"].tolist()[6] == expected
    assert to.items["x_na"].tolist() == [False, False, False, True, False, False, True]
    assert to.cat_names == ["x_na"]  # y had no missing value in training: no indicator for it
    fill = to.procs[0]
    assert fill.na_dict == {"x": expected}


def test_fill_without_indicator_and_a_column_missing_only_in_new_rows():
    df = pd.DataFrame({"x": [1.0, np.nan, 3.0], "y": [10.0, 20.0, 40.0]})
    to = TabularPandas(df, [FillMissing(add_col=False)], cont_names=["x", "y"])
    assert "x_na" not in to.items and to.cat_names == []
    test = to.new(pd.DataFrame({"x": [np.nan], "y": [np.nan]})).process()
    assert test.items[["x", "y"]].iloc[0].tolist() == [2.0, 20.0]  # the training medians
    assert "y_na" not in test.items  # the model's inputs are fixed at training time


def test_fill_missing_errors():
    with pytest.raises(TypeError, match="fill_strategy"):
        FillMissing(fill_strategy="median")
    df = pd.DataFrame({"x": [np.nan, np.nan, 1.0]})
    with pytest.raises(ValueError, match="column 'x' has no value in the training rows"):
        TabularPandas(df, [FillMissing], cont_names="x", splits=([0, 1], [2]))


def test_normalize_statistics_and_decoding():
    df = pd.DataFrame({"i": [1, 2, 3, 4, 100], "f": [0.5, 1.5, 2.5, 3.5, 9.25]})
    to = TabularPandas(df, [TabularNormalize], cont_names=["i", "f"], splits=([0, 1, 2, 3], [4]))
    norm = to.procs[0]
    assert norm.means == {"i": 2.5, "f": 2.0}
    assert norm.stds["i"] == pytest.approx(np.std([1, 2, 3, 4]) + 1e-7)
    assert to.items["i"].dtype == np.float32
    assert to.items["i"].tolist() == pytest.approx(
        ((np.array([1, 2, 3, 4, 100]) - 2.5) / 1.118034).tolist(), rel=1e-5
    )
    decoded = to.decode().items
    assert decoded["i"].tolist() == [1, 2, 3, 4, 100] and decoded["i"].dtype == np.int64
    assert decoded["f"].tolist() == pytest.approx([0.5, 1.5, 2.5, 3.5, 9.25], rel=1e-6)


def test_normalize_needs_training_values():
    df = pd.DataFrame({"x": [np.nan, np.nan, 1.0]})
    with pytest.raises(ValueError, match="column 'x' has no value in the training rows"):
        TabularPandas(df, [TabularNormalize], cont_names="x", splits=([0, 1], [2]))
