"""Datasets: tuples from one pipeline per element, subsets, decoding, dataloaders, test sets."""

import pytest
import torch

from lamina.core.data.datasets import Datasets
from lamina.core.data.datasets import test_set as make_test_set
from lamina.core.data.loaders import DataLoaders
from lamina.core.data.show import SampleTable
from lamina.core.data.tfmd_dl import TfmdDL
from lamina.core.data.tfmd_lists import TfmdLists
from lamina.core.tensors import TensorCategory
from lamina.core.transform import ItemTransform, Transform


def neg(x):
    return -x


def is_even(x):
    return "even" if x % 2 == 0 else "odd"


class TinyCategorize(Transform):
    """A Categorize-like transform written for this test: vocabulary from the training labels."""

    order = 1

    def setups(self, items):
        self.vocab = sorted(set(items))

    def encodes(self, x: str):
        return TensorCategory(self.vocab.index(x))

    def decodes(self, x: TensorCategory):
        return self.vocab[int(x)]


SPLITS = [list(range(80)), list(range(80, 100))]


def make_dsets(**kwargs):
    return Datasets(range(100), [[Transform(neg, neg)], [is_even, TinyCategorize()]], splits=SPLITS, **kwargs)


def test_items_give_tuples_one_element_per_pipeline():
    dsets = make_dsets()
    x, y = dsets[3]
    assert x == -3 and type(y) is TensorCategory and int(y) == 1
    assert len(dsets) == 100 and dsets.n_inp == 1 and len(dsets.tls) == 2
    assert list(dsets)[4] == (-4, TensorCategory(0))
    assert dsets[[1, 2]] == [(-1, TensorCategory(1)), (-2, TensorCategory(0))]
    assert dsets.tls[0].items is dsets.tls[1].items  # items stored once
    assert list(dsets.items[:3]) == [0, 1, 2]


def test_no_tfms_gives_the_items_as_one_element_tuples():
    dsets = Datasets(["a", "b"])
    assert dsets[1] == ("b",) and dsets.n_inp == 1


def test_n_inp_default_explicit_and_checked():
    three = Datasets(range(4), [[neg], [neg], [is_even]])
    assert three.n_inp == 2
    assert Datasets(range(4), [[neg], [is_even]], n_inp=2).n_inp == 2
    with pytest.raises(ValueError, match="n_inp=3"):
        Datasets(range(4), [[neg], [is_even]], n_inp=3)


def test_subsets_train_valid_and_setup_on_training_labels_only():
    class Record(TinyCategorize):
        def setups(self, items):
            self.seen = list(items)
            super().setups(items)

    record = Record()
    dsets = Datasets(range(6), [[neg], [is_even, record]], splits=[[0, 2, 4], [1, 3, 5]])
    assert record.seen == ["even"] * 3 and dsets.vocab == ["even"]
    train, valid = dsets.train, dsets.valid
    assert isinstance(train, Datasets) and len(train) == 3 and train.split_idx == 0 and valid.split_idx == 1
    assert train[1] == (-2, TensorCategory(0)) and dsets.n_subsets == 2 and list(dsets.splits[1]) == [1, 3, 5]
    with pytest.raises(ValueError) as info:
        valid[0]  # an odd label never seen in training: TinyCategorize's own error, with the item named
    assert "tuple element 1 of item 0" in str(info.value) and "item 1 of all items (value 1)" in str(
        info.value
    )


def test_decode_full_and_partial():
    class Show(str):
        def show(self, ctx=None, **kwargs):
            return f"shown {self}"

    class Wrap(Transform):
        def encodes(self, x: str):
            return f"<{x}>"

        def decodes(self, x: str):
            return Show(x.strip("<>"))

    class Upper(Transform):
        order = 5

        def encodes(self, x: str):
            return x.upper()

        def decodes(self, x: str):
            return x.lower()

    dsets = Datasets(["a", "b"], [[Wrap(), Upper()]])
    assert dsets[0] == ("<A>",)
    assert dsets.decode(dsets[0]) == ("a",)
    partial = dsets.decode(("<X>",), full=False)
    assert partial == ("x",) and type(partial[0]) is Show  # stopped once it could show itself
    assert dsets.decode(dsets.tls[0]("c")) == ("c",)  # a lone value is a one-element tuple


def test_show_threads_the_context_through_each_element():
    dsets = make_dsets()
    row = dsets.show(dsets[5], ctx={})
    assert row == {"title": 5, "title_": "odd"}


def test_vocab_comes_from_the_last_pipeline_with_one():
    assert make_dsets().vocab == ["even", "odd"]
    assert Datasets(range(3), [[neg]]).vocab is None


def test_new_empty_and_new():
    dsets = make_dsets()
    empty = dsets.new_empty()
    assert len(empty) == 0 and empty.n_inp == 1 and empty.vocab == ["even", "odd"]
    other = dsets.new([10, 11], split_idx=1)
    assert other[1] == (-11, TensorCategory(1)) and other.split_idx == 1


def test_set_split_idx_changes_the_split_in_a_block():
    dsets = Datasets([1, 2], [[Transform(lambda x: x * 100, split_idx=1)]])
    with dsets.set_split_idx(1):
        assert dsets[0] == (100,)
    assert dsets[0] == (1,) and dsets.split_idx is None


def test_tls_argument_and_length_check():
    a, b = TfmdLists([1, 2], neg), TfmdLists([3, 4], None)
    dsets = Datasets(tls=[a, b])
    assert dsets[0] == (-1, 3)
    with pytest.raises(ValueError, match="different lengths"):
        Datasets(tls=[a, TfmdLists([1], None)])


def test_bad_inputs_are_reported():
    with pytest.raises(ValueError, match="Datasets: no items"):
        Datasets([], [[neg]])
    with pytest.raises(ValueError, match="needs `items`"):
        Datasets()
    with pytest.warns(UserWarning, match="validation set"):
        Datasets(range(4), [[neg]], splits=[[0, 1, 2, 3], []])
    with pytest.warns(UserWarning, match="more than one split") as caught:
        Datasets(range(4), [[neg], [neg]], splits=[[0, 1, 2], [2, 3]])
    assert len(caught) == 1  # once for the Datasets, not once per pipeline
    with pytest.raises(TypeError, match="Datasets: building the pipeline of tuple element 1"):
        Datasets(range(4), [[neg], [42]])


def test_dataloaders_end_to_end():
    dsets = make_dsets()
    dls = dsets.dataloaders(bs=16, seed=0)
    assert isinstance(dls, DataLoaders) and type(dls.train) is TfmdDL and type(dls.valid) is TfmdDL
    assert dls.train.shuffle and dls.train.drop_last and len(dls.train) == 5
    assert not dls.valid.shuffle and not dls.valid.drop_last and dls.valid.bs == 16 and len(dls.valid) == 2
    x, y = dls.train.one_batch()
    assert x.shape == (16,) and type(y) is TensorCategory
    assert all((int(v) % 2 == 0) == (int(c) == 0) for v, c in zip(x, y))
    epoch = [-v for b in dls.train for v in b[0].tolist()]
    assert sorted(epoch) == list(range(80)) and epoch != list(range(80))
    xv, yv = next(iter(dls.valid))
    assert xv.tolist() == [-i for i in range(80, 96)]
    samples = dls.valid.decode_batch((xv, yv), max_n=3)
    assert list(samples) == [(80, "even"), (81, "odd"), (82, "even")]
    table = dls.valid.show_batch(max_n=4)
    assert isinstance(table, SampleTable) and table.columns == ["x", "y"]
    assert table.rows[:2] == [["80", "even"], ["81", "odd"]]
    assert dls.n_inp == 1 and dls.vocab == ["even", "odd"]
    dls.vocab = ["set", "here"]
    assert dls.vocab == ["set", "here"]


def test_dataloaders_options():
    dsets = make_dsets()
    dls = dsets.dataloaders(
        bs=8, val_bs=5, shuffle_train=False, after_item=ItemTransform(lambda t: (t[0] * 2, t[1]))
    )
    assert not dls.train.shuffle and not dls.train.drop_last and dls.valid.bs == 5
    assert dls.valid.one_batch()[0].tolist() == [-160, -162, -164, -166, -168]
    both = dsets.dataloaders(bs=4, num_workers=0, val_shuffle=True, seed=3, dl_kwargs=[{}, {"bs": 3}])
    assert both.valid.shuffle and both.valid.bs == 3 and both.train.seed == 3
    assert dsets.dataloaders(bs=4, device="cpu").device == torch.device("cpu")


def test_dataloaders_warn_once_on_an_empty_validation_subset():
    dsets = Datasets(range(8), [[neg]])
    with pytest.warns(UserWarning, match="no splits were given, so the validation loader has no items"):
        dls = dsets.dataloaders(bs=4)
    assert len(dls.train.dataset) == 8 and len(dls.valid.dataset) == 0
    with pytest.warns(UserWarning) as caught:
        Datasets(range(8), [[neg], [neg]], splits=[range(8), []]).dataloaders(bs=4)
    assert len(caught) == 1 and "split 1 (the validation set) is empty" in str(caught[0].message)


def test_test_set_uses_validation_transforms_and_inputs_only():
    only_valid = Transform(lambda x: x + 0.5, split_idx=1)
    dsets = Datasets(range(10), [[neg, only_valid], [is_even, TinyCategorize()]], splits=[range(8), [8, 9]])
    test = make_test_set(dsets, [20, 21])
    assert isinstance(test, Datasets) and len(test.tls) == 1 and test[0] == (-19.5,) and test.split_idx == 1
    labelled = make_test_set(dsets, [20, 21], with_labels=True)
    assert labelled[1] == (-20.5, TensorCategory(1)) and labelled.n_inp == 1
    skipped = make_test_set(dsets, [3], rm_tfms=1)
    assert skipped[0] == (3.5,)
    with pytest.raises(ValueError, match="no test items"):
        make_test_set(dsets, [])
    with pytest.raises(TypeError, match="needs a Datasets or a TfmdLists"):
        make_test_set([1, 2], [3])


def test_test_set_skips_transforms_the_items_have_been_through():
    class Parse(Transform):
        def encodes(self, x: str):
            return int(x)

    tl = TfmdLists(["1", "2", "3"], [Parse(), neg])
    assert list(make_test_set(tl, ["4"])) == [-4]
    assert list(make_test_set(tl, [4])) == [-4]  # an int already: Parse is skipped
