"""Splitters: each returns items -> (train_idxs, valid_idxs), with clear errors."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lamina.core.data.splitters import (
    ColSplitter,
    EndSplitter,
    FileSplitter,
    FuncSplitter,
    GrandparentSplitter,
    IndexSplitter,
    MaskSplitter,
    RandomSplitter,
    RandomSubsetSplitter,
    TrainTestSplitter,
)


def _is_partition(train, valid, n):
    return sorted(list(train) + list(valid)) == list(range(n))


# ---- random splits ------------------------------------------------------------------------------------
def test_random_splitter_sizes_partition_and_seed():
    train, valid = RandomSplitter(valid_pct=0.25, seed=3)(range(40))
    assert len(valid) == 10 and len(train) == 30 and _is_partition(train, valid, 40)
    again = RandomSplitter(valid_pct=0.25, seed=3)(range(40))
    assert list(again[0]) == list(train) and list(again[1]) == list(valid)
    other = RandomSplitter(valid_pct=0.25, seed=4)(range(40))
    assert list(other[1]) != list(valid)
    assert all(type(i) is int for i in train)


def test_random_splitter_does_not_touch_global_rng():
    import torch

    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    RandomSplitter(seed=1)(range(10))
    assert torch.equal(torch.rand(1), expected)


def test_random_splitter_errors():
    for bad in (-0.1, 1.5, "0.2", None):
        with pytest.raises(ValueError, match="valid_pct"):
            RandomSplitter(valid_pct=bad)
    with pytest.raises(ValueError, match="no items"):
        RandomSplitter()([])
    with pytest.raises(ValueError, match="empty validation set"):
        RandomSplitter(valid_pct=0.1)(range(5))
    with pytest.raises(ValueError, match="training set is empty"):
        RandomSplitter(valid_pct=1.0)(range(5))


def test_random_splitter_zero_pct_means_no_validation():
    train, valid = RandomSplitter(valid_pct=0)(range(5))
    assert sorted(train) == [0, 1, 2, 3, 4] and len(valid) == 0


def test_random_subset_splitter():
    train, valid = RandomSubsetSplitter(train_sz=0.5, valid_sz=0.2, seed=0)(range(100))
    assert len(train) == 50 and len(valid) == 20 and not set(train) & set(valid)
    with pytest.raises(ValueError, match="at most 1"):
        RandomSubsetSplitter(0.7, 0.5)
    with pytest.raises(ValueError, match="train_sz"):
        RandomSubsetSplitter(0, 0.5)


# ---- TrainTestSplitter --------------------------------------------------------------------------------
LABELS = ["a"] * 30 + ["b"] * 10


def test_train_test_splitter_with_scikit_learn_matches_it():
    sklearn = pytest.importorskip("sklearn.model_selection")
    train, valid = TrainTestSplitter(test_size=0.2, random_state=7, stratify=LABELS)(range(40))
    ref_train, ref_valid = sklearn.train_test_split(
        range(40), test_size=8, train_size=32, random_state=7, stratify=LABELS
    )
    assert list(train) == list(ref_train) and list(valid) == list(ref_valid)
    assert [LABELS[i] for i in valid].count("b") == 2  # 8 test items, a quarter of them "b"


@pytest.fixture
def no_sklearn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.model_selection", None)  # import fails


def test_train_test_splitter_own_split_without_scikit_learn(no_sklearn):
    train, valid = TrainTestSplitter(test_size=0.25, random_state=0)(range(40))
    assert len(valid) == 10 and len(train) == 30 and _is_partition(train, valid, 40)
    again = TrainTestSplitter(test_size=0.25, random_state=0)(range(40))
    assert list(again[1]) == list(valid)


def test_train_test_splitter_own_stratified_split(no_sklearn):
    train, valid = TrainTestSplitter(test_size=0.2, random_state=0, stratify=LABELS)(range(40))
    assert [LABELS[i] for i in valid].count("b") == 2 and [LABELS[i] for i in valid].count("a") == 6
    assert [LABELS[i] for i in train].count("b") == 8
    assert _is_partition(train, valid, 40)


def test_train_test_splitter_own_sizes_and_no_shuffle(no_sklearn):
    train, valid = TrainTestSplitter(test_size=3, train_size=5, shuffle=False)(range(10))
    assert list(train) == [0, 1, 2, 3, 4] and list(valid) == [5, 6, 7]


def test_train_test_splitter_errors():
    with pytest.raises(ValueError, match="stratify has 2 labels"):
        TrainTestSplitter(stratify=["a", "b"])(range(5))
    with pytest.raises(ValueError, match="test_size"):
        TrainTestSplitter(test_size=1.5)(range(5))
    with pytest.raises(ValueError, match="exceed"):
        TrainTestSplitter(test_size=4, train_size=4)(range(5))


# ---- deterministic splits -----------------------------------------------------------------------------
def test_index_splitter():
    train, valid = IndexSplitter([4, 1, -1])(range(6))
    assert list(valid) == [4, 1, 5] and list(train) == [0, 2, 3]
    train, valid = IndexSplitter(np.array([0]))(range(3))
    assert list(valid) == [0]
    with pytest.raises(IndexError, match=r"\[9\]"):
        IndexSplitter([9])(range(3))
    with pytest.raises(ValueError, match="validation set is empty"):
        IndexSplitter([])(range(3))


def test_end_splitter():
    assert [list(s) for s in EndSplitter(0.2)(range(10))] == [list(range(8)), [8, 9]]
    assert [list(s) for s in EndSplitter(0.2, valid_last=False)(range(10))] == [list(range(2, 10)), [0, 1]]


def test_grandparent_splitter_on_paths():
    items = ["d/train/a/1.png", "d/valid/a/2.png", "d/train/b/3.png", "d/test/4.png", Path("d/valid/b/5.png")]
    train, valid = GrandparentSplitter()(items)
    assert list(train) == [0, 2] and list(valid) == [1, 4]
    train, valid = GrandparentSplitter(train_name=["train", "valid"], valid_name="d")(items)
    assert list(train) == [0, 1, 2, 4] and list(valid) == [3]


def test_grandparent_splitter_names_the_folders_it_saw():
    with pytest.raises(ValueError, match=r"validation.*\['train'\]"):
        GrandparentSplitter()(["train/a/1.png", "train/b/2.png"])


def test_func_splitter():
    train, valid = FuncSplitter(lambda o: o % 3 == 0)(range(7))
    assert list(valid) == [0, 3, 6] and list(train) == [1, 2, 4, 5]


def test_func_splitter_failure_names_the_item():
    def boom(o):
        if o == "bad":
            raise ValueError("cannot decide")
        return o == "v"

    with pytest.raises(ValueError, match=r"item 2 \('bad'\).*cannot decide"):
        FuncSplitter(boom)(["t", "v", "bad"])
    with pytest.raises(TypeError, match="callable"):
        FuncSplitter(3)


def test_mask_splitter():
    train, valid = MaskSplitter([False, True, True, False])(list("abcd"))
    assert list(train) == [0, 3] and list(valid) == [1, 2]
    assert list(MaskSplitter(np.array([1, 0]))(["x", "y"])[1]) == [0]
    with pytest.raises(ValueError, match="one flag per item"):
        MaskSplitter([True])(["x", "y"])
    with pytest.raises(TypeError, match="booleans"):
        MaskSplitter(["yes", "no"])(["x", "y"])


def test_file_splitter(tmp_path):
    listing = tmp_path / "valid.txt"
    listing.write_text("b.png\n\nd.png\n")
    items = [tmp_path / n for n in ("a.png", "b.png", "c.png", "d.png")]
    train, valid = FileSplitter(listing)(items)
    assert list(valid) == [1, 3] and list(train) == [0, 2]
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        FileSplitter(tmp_path / "nope.txt")


def test_col_splitter():
    df = pd.DataFrame({"x": range(5), "is_valid": [False, True, False, False, True], "fold": list("aabcb")})
    train, valid = ColSplitter()(df)
    assert list(train) == [0, 2, 3] and list(valid) == [1, 4]
    assert list(ColSplitter(1)(df)[1]) == [1, 4]
    assert list(ColSplitter("fold", on="b")(df)[1]) == [2, 4]
    assert list(ColSplitter("fold", on=["a", "c"])(df)[1]) == [0, 1, 3]


def test_col_splitter_errors():
    df = pd.DataFrame({"x": range(3), "name": list("abc")})
    with pytest.raises(KeyError, match=r"no column 'is_valid'.*\['x', 'name'\]"):
        ColSplitter()(df)
    with pytest.raises(TypeError, match="DataFrame"):
        ColSplitter()([1, 2])
    with pytest.raises(TypeError, match="booleans"):
        ColSplitter("name")(df)


def test_splitters_have_readable_names():
    assert RandomSplitter(0.3).__name__ == "RandomSplitter(valid_pct=0.3)"
    assert GrandparentSplitter().__name__.startswith("GrandparentSplitter(")
