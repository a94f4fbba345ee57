"""TfmdLists: lazy pipeline over items, splits and subsets, setup on training items, errors."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from lamina.core.basics.collections import L
from lamina.core.data.loaders import DataLoaders
from lamina.core.data.tfmd_dl import TfmdDL
from lamina.core.data.tfmd_lists import TfmdLists
from lamina.core.pipeline import Pipeline
from lamina.core.tensors import TensorCategory
from lamina.core.transform import Transform


def neg(x):
    return -x


class Vocab(Transform):
    """Label -> class index; the vocabulary comes from the items seen at setup."""

    def setups(self, items):
        self.seen = list(items)
        self.vocab = sorted(set(self.seen))

    def encodes(self, x: str):
        return TensorCategory(self.vocab.index(x))

    def decodes(self, x: TensorCategory):
        return self.vocab[int(x)]


class Counting(Transform):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def encodes(self, x: int):
        self.calls += 1
        return x * 10


class Fails(Transform):
    def encodes(self, x: int):
        if x == 7:
            raise ValueError("seven is not allowed")
        return x


def lower(x):
    return x.lower()


def upper(x):
    return x.upper()


def test_items_are_transformed_lazily_on_access():
    t = Counting()
    tl = TfmdLists(range(10), [t])
    assert t.calls == 1  # setup records the types by running the first training item once
    assert tl[3] == 30 and t.calls == 2
    assert list(tl) == [x * 10 for x in range(10)] and len(tl) == 10
    assert tl[2:4] == L([20, 30]) and tl[[0, 9]] == L([0, 90])
    assert tl[np.int64(1)] == 10 and tl[torch.tensor(2)] == 20 and tl[-1] == 90


def test_items_storage_and_tfms_pipeline():
    tl = TfmdLists([1, 2, 3], neg)
    assert isinstance(tl.items, L) and list(tl.items) == [1, 2, 3]
    assert isinstance(tl.tfms, Pipeline) and [t.name for t in tl.tfms] == ["neg"]
    array = np.arange(6).reshape(3, 2)
    kept = TfmdLists(array, None)
    assert kept.items is array and (kept[1] == np.array([2, 3])).all()
    assert isinstance(TfmdLists(array, None, use_list=True).items, L)
    shared = L([4, 5])
    assert TfmdLists(shared, neg).items is shared


def test_dataframe_items_are_rows_by_position():
    df = pd.DataFrame({"a": [10, 20, 30], "b": ["x", "y", "z"]}, index=[7, 8, 9])
    tl = TfmdLists(df, lambda row: row["b"] * 2, splits=[[0, 2], [1]])
    assert tl[1] == "yy" and list(tl.valid) == ["yy"] and list(tl.train) == ["xx", "zz"]


def test_splits_give_subsets_with_their_split_idx_and_shared_transforms():
    only_train = Transform(lambda x: x + 1000, split_idx=0)
    only_valid = Transform(lambda x: x - 1000, split_idx=1)
    tl = TfmdLists(range(10), [only_train, only_valid], splits=[range(6), [6, 7, 8, 9]])
    assert tl.n_subsets == 2 and list(tl.splits[1]) == [6, 7, 8, 9]
    train, valid = tl.train, tl.valid
    assert (train.split_idx, valid.split_idx, tl.split_idx) == (0, 1, None)
    assert list(train) == [1000 + i for i in range(6)] and list(valid) == [
        6 - 1000,
        7 - 1000,
        8 - 1000,
        9 - 1000,
    ]
    assert tl[0] == 0  # no split_idx: split-gated transforms are skipped
    assert list(train.tfms.fs) == list(tl.tfms.fs) and train.tfms is not tl.tfms
    assert all(a is b for a, b in zip(valid.tfms.fs, tl.tfms.fs))
    assert tl.subset(1)[0] == valid[0]
    with pytest.raises(IndexError, match="2 subsets"):
        tl.subset(2)


def test_setup_runs_on_the_training_items_after_earlier_transforms():
    vocab = Vocab()
    labels = ["B", "a", "b", "C", "z"]
    tl = TfmdLists(labels, [lower, vocab], splits=[[0, 1, 2, 3], [4]])
    assert vocab.seen == ["b", "a", "b", "c"] and tl.vocab == ["a", "b", "c"]
    assert tl[1] == TensorCategory(0) and type(tl[1]) is TensorCategory
    with pytest.raises(
        ValueError, match=r"item 0 of the validation subset, item 4 of all items \(value 'z'\)"
    ):
        tl.valid[0]  # 'z' was never seen in training
    untouched = Vocab()
    TfmdLists(labels, [untouched], do_setup=False)
    assert not hasattr(untouched, "vocab")


def test_setup_on_all_items_when_train_setup_is_false():
    vocab = Vocab()
    TfmdLists(["a", "b", "c"], [vocab], splits=[[0], [1, 2]], train_setup=False)
    assert vocab.vocab == ["a", "b", "c"]


def test_a_pipeline_given_is_not_set_up_again():
    vocab = Vocab()
    first = TfmdLists(["a", "b"], [vocab])
    vocab.seen = "untouched"
    again = TfmdLists(["c", "a"], first.tfms)
    assert vocab.seen == "untouched" and again[1] == TensorCategory(0)
    assert TfmdLists(["a"], first)[0] == TensorCategory(0)


def test_decode_show_and_call():
    tl = TfmdLists(["b", "a"], [Transform(upper, lower), Vocab()])
    assert tl("A") == TensorCategory(0) and tl.decode(tl[0]) == "b"
    row = tl.show(tl[1], ctx={})
    assert row == {"title": "a"}


def test_show_prints_when_no_context(capsys):
    tl = TfmdLists([3, 4], [Transform(neg, neg)])
    assert tl.show(tl[0]) is None
    assert capsys.readouterr().out.strip() == "3"


def test_new_and_new_empty_keep_the_transforms_set_up():
    vocab = Vocab()
    tl = TfmdLists(["b", "a", "c"], [vocab], splits=[[0, 1], [2]])
    other = tl.new(["a", "a"], split_idx=1)
    assert list(other) == [TensorCategory(0)] * 2 and other.split_idx == 1 and vocab.vocab == ["a", "b"]
    assert other.tfms.fs[0] is vocab and len(other.splits[0]) == 2
    empty = tl.new_empty()
    assert len(empty) == 0 and empty.tfms.fs[0] is vocab and list(empty) == []
    with pytest.raises(ValueError, match="no items"):
        tl.new([])


def test_types_and_infer():
    class ToInt(Transform):
        def encodes(self, x: str):
            return int(x)

    tl = TfmdLists(["1", "2"], [ToInt(), Counting()])
    assert tl.types[0] == (str,) and tl.types[1] == (int,) and tl.types[2] is int
    assert tl.infer_idx("5") == 0 and tl.infer_idx(5) == 1
    assert tl.infer("5") == 50 and tl.infer(5) == 50
    with pytest.raises(TypeError, match="got float, expected one of"):
        tl.infer_idx(2.5)


def test_overlapping_splits_warn_and_are_listed():
    with pytest.warns(UserWarning, match=r"2 item\(s\) are in more than one split"):
        tl = TfmdLists(range(6), None, splits=[[0, 1, 2, 3], [3, 4, 5, 2]])
    assert tl.overlapping_splits() == L([2, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert TfmdLists(range(4), None, splits=[[0, 1], [2, 3]]).overlapping_splits() == L()


def test_split_forms_masks_negatives_and_bad_indices():
    tl = TfmdLists(range(5), None, splits=[[True, True, False, True, False], [-1, 2]])
    assert list(tl.train) == [0, 1, 3] and list(tl.valid) == [4, 2]
    with pytest.raises(IndexError, match=r"splits\[1\] holds index 9, out of range for 5 items"):
        TfmdLists(range(5), None, splits=[[0], [9]])
    with pytest.raises(ValueError, match=r"boolean mask of length 2, but there are 5 items"):
        TfmdLists(range(5), None, splits=[[True, False], [1]])
    with pytest.raises(TypeError, match=r"splits\[0\] holds 'a'"):
        TfmdLists(range(5), None, splits=[["a"], [1]])


def test_empty_items_and_empty_splits_are_reported():
    with pytest.raises(ValueError, match="TfmdLists: no items"):
        TfmdLists([], [neg])
    with pytest.raises(ValueError, match="training split"):
        TfmdLists(range(4), None, splits=[[], [0, 1]])
    with pytest.warns(UserWarning, match="validation set.* is empty"):
        tl = TfmdLists(range(4), None, splits=[[0, 1, 2, 3], []])
    assert len(tl.valid) == 0


def test_a_failing_transform_names_item_value_and_step():
    tl = TfmdLists(range(10), [neg, Transform(neg), Fails()], do_setup=False)
    with pytest.raises(ValueError) as info:
        tl[-3]
    text = str(info.value)
    assert "item -3" in text and "(value 7)" in text and "transform 3/3 `Fails`" in text
    assert "seven is not allowed" in text and isinstance(info.value.__cause__, ValueError)
    with pytest.raises(ValueError, match="item 1 of the validation subset, item 7 of all items"):
        TfmdLists(range(10), [Fails()], splits=[range(6), [6, 7]]).valid[1]


def test_a_failure_during_setup_names_the_setup_and_the_item():
    class Collect(Transform):
        def setups(self, items):
            self.values = list(items)

    with pytest.raises(ValueError) as info:
        TfmdLists([3, 7, 5], [Fails(), Collect()])
    text = str(info.value)
    assert (
        "TfmdLists.setup" in text and "Collect.setups" in text and "(value 7)" in text and "`Fails`" in text
    )


def test_out_of_range_index_is_a_clear_error():
    with pytest.raises(IndexError, match="TfmdLists index 5 is out of range for 3 items"):
        TfmdLists([1, 2, 3], None)[5]


def test_verbose_prints_the_setup(capsys):
    TfmdLists([1], [neg], verbose=True)
    assert "Setting up Pipeline: neg" in capsys.readouterr().out


def test_dataloaders_one_loader_per_subset():
    tl = TfmdLists(range(50), [neg], splits=[range(40), range(40, 50)])
    dls = tl.dataloaders(bs=8, seed=1)
    assert isinstance(dls, DataLoaders) and all(type(dl) is TfmdDL for dl in dls)
    assert dls.train.shuffle and dls.train.drop_last and not dls.valid.shuffle and dls.valid.bs == 8
    train = torch.cat(list(dls.train)).tolist()
    assert sorted(train) == sorted(-i for i in range(40)) and train != sorted(train, reverse=True)
    assert torch.cat(list(dls.valid)).tolist() == [-i for i in range(40, 50)]
    assert dls.train.dataset.split_idx == 0 and dls.valid.dataset.split_idx == 1


def test_dl_type_is_used_by_dataloaders():
    class MyDL(TfmdDL):
        pass

    dls = TfmdLists(range(8), None, splits=[range(6), range(6, 8)], dl_type=MyDL).dataloaders(bs=2)
    assert type(dls.train) is MyDL and type(dls.valid) is MyDL
