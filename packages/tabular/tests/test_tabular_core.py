"""TabularPandas: column roles, splits, procs learned on the training rows only, new rows, targets, errors."""

import numpy as np
import pandas as pd
import pytest

from lamina.core.data.blocks import CategoryBlock, MultiCategoryBlock, RegressionBlock
from lamina.core.data.splitters import RandomSplitter
from lamina.core.data.transforms import Normalize, UnknownLabelError
from lamina.core.losses import BCEWithLogitsLossFlat, CrossEntropyLossFlat, MSELossFlat
from lamina.tabular.checks import MissingColumnError, NonNumericColumnError
from lamina.tabular.core import TabularPandas
from lamina.tabular.procs import Categorify, FillMissing, TabularNormalize
from lamina.tabular.samples import ADULT_CAT_NAMES, ADULT_CONT_NAMES
from lamina.tabular.targets import CategorizeTarget, MultiLabelTarget, RegressionTarget

PROCS = [Categorify, FillMissing, Normalize]


def small_df() -> pd.DataFrame:
    """Rows 0-3 train, rows 4-5 valid (with `splits=SPLITS`); the valid rows hold a category ('z') and a
    value range the training rows never had."""
    return pd.DataFrame(
        {
            "color": ["a", "b", "a", None, "z", "b"],
            "size": [1.0, np.nan, 3.0, 5.0, 100.0, np.nan],
            "label": ["yes", "no", "yes", "no", "yes", "no"],
        }
    )


SPLITS = ([0, 1, 2, 3], [4, 5])


def test_roles_and_splits(adult):
    splits = RandomSplitter(valid_pct=0.25, seed=1)(range(len(adult)))
    to = TabularPandas(adult, PROCS, ADULT_CAT_NAMES, ADULT_CONT_NAMES, "salary", splits=splits)
    assert (to.n_train, to.n_valid) == (1500, 500)
    assert len(to.train) == 1500 and len(to.valid) == 500
    assert list(to.train.items.index) == [adult.index[i] for i in splits[0]]
    assert list(to.valid.items.index) == [adult.index[i] for i in splits[1]]
    assert list(to.xs.columns) == ADULT_CAT_NAMES + ADULT_CONT_NAMES
    assert list(to.ys.columns) == ["salary"]
    assert to.train.split_idx == 0 and to.valid.split_idx == 1
    assert (
        to.x_names == to.cat_names + to.cont_names
    )  # no _na columns: Adult's continuous columns are complete
    assert to.classes["sex"].items == ["#na#", "Female", "Male"]
    assert list(to.vocab) == ["<=50K", ">50K"] and to.c == 2
    assert isinstance(to.loss_func, CrossEntropyLossFlat)
    assert adult["workclass"].dtype != np.int8  # the caller's frame is untouched (not inplace)


def test_procs_learn_on_the_training_rows_only():
    to = TabularPandas(small_df(), PROCS, "color", "size", "label", splits=SPLITS)
    assert to.classes["color"].items == ["#na#", "a", "b"]  # 'z' appears only in a validation row
    fill = next(p for p in to.procs if isinstance(p, FillMissing))
    assert fill.fill_values["size"] == 3.0  # median of the training values 1, 3, 5 (not of 100)
    norm = next(p for p in to.procs if isinstance(p, TabularNormalize))
    train_sizes = np.array([1.0, 3.0, 3.0, 5.0])  # after filling the missing one with the median 3
    assert norm.means["size"] == pytest.approx(train_sizes.mean())
    assert norm.stds["size"] == pytest.approx(train_sizes.std() + 1e-7)
    assert to.valid.items["color"].tolist() == [0, 2]  # unseen 'z' -> '#na#' (0), 'b' -> 2
    assert to.valid.items["size_na"].tolist() == [1, 2]  # False, True as classes of the _na column
    assert to.valid.items["size"].iloc[0] == pytest.approx(
        (100.0 - 3.0) / (train_sizes.std() + 1e-7), rel=1e-5
    )


def test_proc_order_does_not_depend_on_the_list_order():
    a = TabularPandas(
        small_df(), [Normalize, Categorify, FillMissing], "color", "size", "label", splits=SPLITS
    )
    b = TabularPandas(
        small_df(), [FillMissing, Categorify, Normalize], "color", "size", "label", splits=SPLITS
    )
    assert [type(p).__name__ for p in a.procs] == [
        "FillMissing",
        "Categorify",
        "CategorizeTarget",
        "TabularNormalize",
    ]
    pd.testing.assert_frame_equal(a.items, b.items)
    assert a.cat_names == ["color", "size_na"]


def test_kernel_normalize_stands_for_the_tabular_one_but_not_with_fixed_stats():
    to = TabularPandas(small_df(), [Normalize()], cont_names="size", splits=SPLITS)
    assert isinstance(to.procs[0], TabularNormalize)
    with pytest.raises(ValueError, match="Normalize with given mean/std"):
        TabularPandas(small_df(), [Normalize(mean=0.0, std=1.0)], cont_names="size")
    with pytest.raises(TypeError, match=r"procs\[0\]"):
        TabularPandas(small_df(), [lambda df: df], cont_names="size")


def test_new_rows_are_processed_with_the_learned_state():
    to = TabularPandas(small_df(), PROCS, "color", "size", "label", splits=SPLITS)
    new = pd.DataFrame({"color": ["b", "never-seen", None], "size": [np.nan, 3.0, 7.0]})
    test = to.new(new).process()
    assert test.items["color"].tolist() == [2, 0, 0]
    assert test.items["size_na"].tolist() == [2, 1, 1]
    assert test.cat_names == ["color", "size_na"]
    decoded = test.decode().items
    assert decoded["color"].tolist() == ["b", "#na#", "#na#"]
    assert decoded["size"].tolist() == pytest.approx([3.0, 3.0, 7.0], rel=1e-5)  # NaN filled with the median
    assert not test.has_targets and "label" not in test.items
    assert new["color"].iloc[:2].tolist() == ["b", "never-seen"] and np.isnan(new["size"].iloc[0])  # copied
    with pytest.raises(RuntimeError, match="processed already"):
        test.process()


def test_decode_and_show_give_the_original_values(adult):
    to = TabularPandas(
        adult,
        PROCS,
        ADULT_CAT_NAMES,
        ADULT_CONT_NAMES,
        "salary",
        splits=([*range(1500)], [*range(1500, 2000)]),
    )
    shown = to.show(max_n=4, show=False)
    expected = adult.iloc[:4][ADULT_CAT_NAMES + ADULT_CONT_NAMES + ["salary"]].reset_index(drop=True)
    expected[ADULT_CAT_NAMES] = expected[ADULT_CAT_NAMES].fillna("#na#")
    pd.testing.assert_frame_equal(shown.reset_index(drop=True).astype(object), expected.astype(object))


def test_row_selection_and_column_setters():
    to = TabularPandas(small_df(), PROCS, "color", "size", "label", splits=SPLITS)
    part = to.iloc[[1, 4]]
    assert list(part.items.index) == [1, 4] and part.procs is to.procs and part.processed
    assert list(to.iloc[2].items.index) == [2] and len(to.iloc[:3]) == 3
    assert part.decode().items["color"].tolist() == ["b", "#na#"]
    to.conts = to.conts.astype(np.float64)
    assert to.items["size"].dtype == np.float64
    assert to.targ.equals(to.ys)
    with pytest.raises(TypeError, match="selects rows only"):
        to.iloc[0, 1]


def test_reduce_memory_and_inplace():
    df = pd.DataFrame({"n": np.arange(6, dtype=np.int64), "c": list("abcabc"), "other": np.arange(6.0)})
    to = TabularPandas(df, cat_names="c", cont_names="n")
    assert to.items["n"].dtype == np.int8 and isinstance(to.items["c"].dtype, pd.CategoricalDtype)
    assert to.items["other"].dtype == np.float64  # unused columns are left alone
    kept = TabularPandas(df, cat_names="c", cont_names="n", reduce_memory=False)
    assert kept.items["n"].dtype == np.int64
    frame = pd.DataFrame({"c": list("abab"), "y": [0.5, 1.5, 2.5, 3.5]})
    TabularPandas(frame, [Categorify], cat_names="c", y_names="y", inplace=True, reduce_memory=False)
    assert frame["c"].tolist() == [1, 2, 1, 2]  # processed in place


def test_targets_by_block():
    df = pd.DataFrame(
        {"x": [1.0, 2.0, 3.0, 4.0], "y": [0.5, 1.5, 2.5, 3.5], "a": [0, 1, 1, 0], "b": [1, 1, 0, 0]}
    )
    reg = TabularPandas(df, cont_names="x", y_names="y")  # inferred: a float target is a regression
    assert isinstance(reg.target, RegressionTarget) and isinstance(reg.loss_func, MSELossFlat) and reg.c == 1
    assert reg.items["y"].dtype == np.float32
    ints = TabularPandas(df, cont_names="x", y_names="a", y_block=CategoryBlock())
    assert isinstance(ints.target, CategorizeTarget) and list(ints.vocab) == [0, 1]
    multi = TabularPandas(
        df, cont_names="x", y_names=["a", "b"], y_block=MultiCategoryBlock(encoded=True, vocab=["a", "b"])
    )
    assert isinstance(multi.target, MultiLabelTarget) and isinstance(multi.loss_func, BCEWithLogitsLossFlat)
    assert multi.c == 2 and multi.items["b"].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert multi.decode().items["a"].tolist() == [False, True, True, False]
    two = TabularPandas(df, cont_names="x", y_names=["y", "a"], y_block=RegressionBlock())
    assert two.c == 2
    factory = TabularPandas(df, cont_names="x", y_names="a", y_block=CategoryBlock)  # the uncalled factory
    assert isinstance(factory.target, CategorizeTarget)


def test_target_errors():
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": ["a", "a", "a", "b"]})
    with pytest.raises(ValueError, match=r"single class 'a'"):
        TabularPandas(df, cont_names="x", y_names="y", splits=([0, 1, 2], [3]))
    unseen = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": ["a", "b", "a", "c"]})
    with pytest.raises(UnknownLabelError, match=r"\['c'\].*rows \[3\]"):
        TabularPandas(unseen, cont_names="x", y_names="y", splits=([0, 1, 2], [3]))
    ok = TabularPandas(
        unseen, cont_names="x", y_names="y", y_block=CategoryBlock(add_na=True), splits=([0, 1, 2], [3])
    )
    assert ok.valid.items["y"].tolist() == [0]
    missing = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["a", None, "b"]})
    with pytest.raises(ValueError, match=r"missing values at rows \[1\]"):
        TabularPandas(missing, cont_names="x", y_names="y")
    with pytest.raises(ValueError, match="takes one column"):
        TabularPandas(df.assign(z=df.y), cont_names="x", y_names=["y", "z"], y_block=CategoryBlock())
    with pytest.raises(ValueError, match="one 0/1 column per label"):
        TabularPandas(df, cont_names="x", y_names="y", y_block=MultiCategoryBlock())
    bad_multi = pd.DataFrame({"x": [1.0, 2.0], "a": [0, 2], "b": [1, 0]})
    with pytest.raises(ValueError, match=r"column 'a' must hold 0/1.*row 1 holds 2"):
        TabularPandas(
            bad_multi,
            cont_names="x",
            y_names=["a", "b"],
            y_block=MultiCategoryBlock(encoded=True, vocab=["a", "b"]),
        )


def test_a_missing_column_is_named_with_close_matches(adult):
    with pytest.raises(MissingColumnError, match=r"cont_names names the column 'agee'.*Close matches: 'age'"):
        TabularPandas(adult, PROCS, ADULT_CAT_NAMES, ["agee"], "salary")
    with pytest.raises(MissingColumnError, match=r"cat_names names the column 'workclas'.*'workclass'"):
        TabularPandas(adult, PROCS, ["workclas"], ADULT_CONT_NAMES, "salary")
    with pytest.raises(MissingColumnError, match=r"y_names names the column 'salery'.*'salary'"):
        TabularPandas(adult, PROCS, ADULT_CAT_NAMES, ADULT_CONT_NAMES, "salery")


def test_a_non_numeric_continuous_value_is_named_with_its_row(adult):
    bad = adult.copy()
    bad["age"] = bad["age"].astype(object)
    bad.loc[bad.index[17], "age"] = "forty"
    with pytest.raises(
        NonNumericColumnError, match=r"column 'age' holds the non-numeric value 'forty' at row 17"
    ):
        TabularPandas(bad, PROCS, ADULT_CAT_NAMES, ADULT_CONT_NAMES, "salary")
    texts = adult.copy()
    texts["age"] = texts["age"].astype(str)  # numbers written as text are read as numbers
    to = TabularPandas(texts, PROCS, ADULT_CAT_NAMES, ADULT_CONT_NAMES, "salary")
    assert to.items["age"].dtype == np.float32


def test_bad_roles_and_splits():
    df = small_df()
    with pytest.raises(ValueError, match=r"\['size'\] are in both cat_names and cont_names"):
        TabularPandas(df, cat_names="size", cont_names="size")
    with pytest.raises(ValueError, match="both the training and the validation split"):
        TabularPandas(df, cont_names="size", splits=([0, 1, 2], [2, 3]))
    with pytest.raises(IndexError, match="position 9, outside the 6 rows"):
        TabularPandas(df, cont_names="size", splits=([0, 9], [1]))
    with pytest.raises(TypeError, match="expects a pandas DataFrame"):
        TabularPandas(df.to_numpy(), cont_names="size")
