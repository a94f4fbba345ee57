"""Regression tests for four kernel gaps the text work found: `test_dl` with `ColReader` getters,
`Datasets.decode` of more parts than pipelines, `get_preds(reorder=True)` on a loader that reorders its
items itself, and `concat_batches` of differently padded batches."""

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from lamina.core.data.block import DataBlock
from lamina.core.data.blocks import CategoryBlock, TransformBlock
from lamina.core.data.datasets import Datasets
from lamina.core.data.getters import ColReader
from lamina.core.data.load import DataLoader
from lamina.core.data.loaders import DataLoaders
from lamina.core.data.splitters import IndexSplitter
from lamina.core.learner.learner import Learner
from lamina.core.learner.preds import concat_batches, loader_order
from lamina.core.transform import Transform


def quiet(learn):
    learn.logger = lambda *a: None
    return learn


# ---- 1. test_dl with ColReader getters ------------------------------------------------------------------
class WordLength(Transform):
    """A typed step after the getter: a word -> its length (as a float)."""

    def encodes(self, w: str):
        return float(len(w))


@pytest.fixture(scope="module")
def frame():
    n = [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5]
    words = ["a", "bb", "ccc", "dddd", "eeeee", "ffffff", "g", "hh"]
    labels = ["cat", "dog", "cat", "dog", "cat", "dog", "cat", "dog"]
    return pd.DataFrame({"n": n, "word": words, "label": labels})


@pytest.fixture(scope="module")
def number_dls(frame):
    block = DataBlock(
        blocks=(TransformBlock(), CategoryBlock()),
        get_x=ColReader("n"),
        get_y=ColReader("label"),
        splitter=IndexSplitter([6, 7]),
    )
    return block.dataloaders(frame, bs=4)


@pytest.fixture(scope="module")
def word_dls(frame):
    block = DataBlock(
        blocks=(TransformBlock(type_tfms=WordLength()), CategoryBlock()),
        get_x=ColReader("word"),
        get_y=ColReader("label"),
        splitter=IndexSplitter([6, 7]),
    )
    return block.dataloaders(frame, bs=4)


def test_a_getter_that_takes_anything_records_the_type_it_received(number_dls):
    x_tl, y_tl = number_dls.train_ds.tls
    assert x_tl.types[0] is pd.Series and y_tl.types[0] is pd.Series  # not `object`
    assert x_tl.types[1] is np.float64 and y_tl.types[1] is str


def test_test_dl_runs_the_getter_on_new_rows_without_labels(number_dls):
    rows = pd.DataFrame({"n": [10.0, 20.0, 30.0]})
    (b,) = number_dls.test_dl(rows).one_batch()  # input only
    assert b.tolist() == [10.0, 20.0, 30.0]


def test_test_dl_keeps_the_labels_only_with_labels(number_dls, frame):
    rows = frame.iloc[[0, 1, 3]]
    (x,) = number_dls.test_dl(rows).one_batch()
    assert x.tolist() == [0.5, 1.5, 3.5]
    x, y = number_dls.test_dl(rows, with_labels=True).one_batch()
    assert x.tolist() == [0.5, 1.5, 3.5] and y.tolist() == [0, 1, 1]  # vocab ['cat', 'dog']


def test_test_dl_with_labels_on_unlabelled_rows_gives_inputs_only_and_warns(number_dls):
    rows = pd.DataFrame({"n": [1.0, 2.0]})
    with pytest.warns(UserWarning, match="no labels.*'label'"):
        dl = number_dls.test_dl(rows, with_labels=True)
    batch = dl.one_batch()
    assert len(batch) == 1 and batch[0].tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    "name, items, expected",
    [
        ("number", np.array([9.5, 8.5]), [9.5, 8.5]),  # np.float64: what ColReader('n') gives
        ("word", ["xyz", "hello"], [3.0, 5.0]),  # str: what ColReader('word') gives
    ],
)
def test_test_dl_skips_the_getter_for_values_it_already_gives(number_dls, word_dls, name, items, expected):
    dls = number_dls if name == "number" else word_dls
    (x,) = dls.test_dl(items).one_batch()
    assert x.tolist() == expected


def test_test_dl_on_words_still_reads_rows(word_dls):
    rows = pd.DataFrame({"word": ["four", "xx"]})
    (x,) = word_dls.test_dl(rows).one_batch()
    assert x.tolist() == [4.0, 2.0]


def test_rows_of_another_kind_go_through_the_getter(number_dls):
    rows = [{"n": 4.0}, {"n": 5.0}]  # dicts: no recorded type matches; ColReader takes anything
    (x,) = number_dls.test_dl(rows).one_batch()
    assert x.tolist() == [4.0, 5.0]


# ---- 2. Datasets.decode ---------------------------------------------------------------------------------
class Letters(Transform):
    """A word <-> the tensor of its letters' positions in the alphabet."""

    def encodes(self, w: str):
        return torch.tensor([ord(c) - ord("a") for c in w])

    def decodes(self, t: torch.Tensor):
        return "".join(chr(int(i) + ord("a")) for i in t)


def test_decode_with_one_pipeline_decodes_every_part():
    dsets = Datasets(["abc", "xyz"], [[Letters()]])
    (x,) = dsets[0]
    # a language-model dataset gives (input, target) from this one pipeline
    pair = (x[:-1], x[1:])
    assert dsets.decode(pair) == ("ab", "bc")
    assert dsets.decode((x, x, x)) == ("abc", "abc", "abc")


def test_decode_passes_parts_beyond_the_pipelines_through():
    dsets = Datasets(["abc", "xyz"], [[Letters()], [len]])
    x, y = dsets[1]
    extra = torch.tensor([7, 8])
    decoded = dsets.decode((x, y, extra))
    assert decoded[:2] == ("xyz", 3) and len(decoded) == 3 and decoded[2] is extra


# ---- 3. get_preds on a loader that reorders its items ---------------------------------------------------
class LargestFirstDL(DataLoader):
    """Reads the items largest first (by their first value) even unshuffled, like a length-sorting loader;
    shuffled, in a random order."""

    def get_idxs(self):
        if self.shuffle:
            return self.shuffle_fn(range(self.n))
        keys = [float(self.dataset[i][0].sum()) for i in range(self.n)]
        return sorted(range(self.n), key=lambda i: -keys[i])


class Times3(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([[3.0]]))

    def forward(self, x):
        return x @ self.w


@pytest.fixture
def reordering_learner():
    x = torch.tensor([[2.0], [7.0], [1.0], [9.0], [4.0], [3.0], [8.0], [5.0], [6.0], [0.0]])
    ds = TensorDataset(x, x + 100)
    dl = LargestFirstDL(ds, bs=3)
    learn = quiet(Learner(DataLoaders(dl, dl), Times3(), nn.MSELoss()))
    return learn, x


def test_the_loader_reports_its_own_order(reordering_learner):
    learn, x = reordering_learner
    assert loader_order(learn.dls.valid) == [3, 6, 1, 8, 7, 4, 5, 0, 2, 9]
    assert loader_order(DataLoader(TensorDataset(x), bs=3)) is None  # dataset order: nothing to undo


def test_get_preds_puts_a_reordering_loaders_results_back_in_dataset_order(reordering_learner):
    learn, x = reordering_learner
    inp, preds, targs, losses = learn.get_preds(with_input=True, with_loss=True)
    torch.testing.assert_close(inp, x)
    torch.testing.assert_close(preds, 3 * x)
    torch.testing.assert_close(targs, x + 100)
    torch.testing.assert_close(losses, (3 * x - (x + 100)) ** 2)
    inp, *_ = learn.get_preds(with_input=True, reorder=False)  # the loader's own order
    assert inp.flatten().tolist() == [9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0]


def test_get_preds_on_the_shuffled_reordering_loader(reordering_learner):
    learn, x = reordering_learner
    shuffled = learn.dls.valid.new(shuffle=True, drop_last=True)
    inp, preds, targs = learn.get_preds(dl=shuffled, with_input=True)
    torch.testing.assert_close(inp, x)  # unshuffled, then the loader's sorting undone; nothing dropped
    torch.testing.assert_close(preds, 3 * x)
    torch.testing.assert_close(targs, x + 100)


def test_get_preds_with_a_dropped_last_batch_keeps_the_items_read(reordering_learner):
    learn, x = reordering_learner
    dl = learn.dls.valid.new(drop_last=True)  # unshuffled: the last (smallest) item is not read
    inp, preds, _ = learn.get_preds(dl=dl, with_input=True)
    expected = torch.tensor([[2.0], [7.0], [1.0], [9.0], [4.0], [3.0], [8.0], [5.0], [6.0]])
    torch.testing.assert_close(inp, expected)  # the 9 items read, in dataset order (item 9 dropped)
    torch.testing.assert_close(preds, 3 * expected)


class FreshPermutationDL(DataLoader):
    """Reads its items in a new random order at every call of `get_idxs`, even unshuffled."""

    def get_idxs(self):
        return torch.randperm(self.n).tolist()


def test_get_preds_follows_the_order_it_recorded(reordering_learner):
    learn, x = reordering_learner
    dl = FreshPermutationDL(TensorDataset(x, x + 100), bs=4)
    inp, preds, _ = learn.get_preds(dl=dl, with_input=True)  # the pass reads the recorded order
    torch.testing.assert_close(inp, x)
    torch.testing.assert_close(preds, 3 * x)


class NoCopyShuffler:
    """A shuffling loader that reports its order but cannot be copied (no `new`)."""

    shuffle = True

    def __init__(self, x):
        self.x = x

    def get_idxs(self):
        return torch.randperm(len(self.x)).tolist()

    def __len__(self):
        return 1

    def __iter__(self):
        yield self.x[self.get_idxs()], self.x


def test_get_preds_cannot_reorder_a_shuffler_it_cannot_copy(reordering_learner):
    learn, x = reordering_learner
    with pytest.raises(ValueError, match="NoCopyShuffler shuffles.*reorder=False"):
        learn.get_preds(dl=NoCopyShuffler(x))
    preds, _ = learn.get_preds(dl=NoCopyShuffler(x), reorder=False)
    assert sorted(preds.flatten().tolist()) == [3.0 * v for v in range(10)]


# ---- 4. concat_batches of differently padded batches -------------------------------------------------
def test_concat_pads_the_shorter_batches_at_the_end():
    a = torch.tensor([[1, 2], [3, 4]])
    b = torch.tensor([[5, 6, 7]])
    out = concat_batches([a, b])
    assert out.tolist() == [[1, 2, 0], [3, 4, 0], [5, 6, 7]]
    out = concat_batches([a, b], pad_value=9)
    assert out.tolist() == [[1, 2, 9], [3, 4, 9], [5, 6, 7]]


def test_concat_pads_every_mismatched_dimension_through_tuples_and_dicts():
    a = torch.ones(1, 2, 3)
    b = torch.full((2, 3, 1), 2.0)
    x, d = concat_batches([(a, {"k": a}), (b, {"k": b})])
    assert x.shape == (3, 3, 3) and d["k"].shape == (3, 3, 3)
    assert x[0].tolist() == [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]
    assert x[1].tolist() == [[2.0, 0.0, 0.0], [2.0, 0.0, 0.0], [2.0, 0.0, 0.0]]


def test_concat_of_batches_with_different_numbers_of_dimensions_is_explained():
    with pytest.raises(
        ValueError, match=r"predictions.*different numbers of dimensions.*\(2, 3\).*\(2, 3, 1\)"
    ):
        concat_batches([torch.zeros(2, 3), torch.zeros(2, 3, 1)], what="predictions")
    assert concat_batches([torch.tensor(1.0), torch.tensor([2.0, 3.0])]).tolist() == [1.0, 2.0, 3.0]


class PaddingDL(LargestFirstDL):
    """Sequences of different lengths, each batch padded at the end to its longest with `pad_idx`."""

    pad_idx = 1

    def create_batch(self, items):
        longest = max(len(s) for s, _ in items)
        xs = torch.stack([F.pad(s, (0, longest - len(s)), value=self.pad_idx) for s, _ in items])
        return xs, torch.stack([y for _, y in items])


class PerToken(nn.Module):
    """One output per token: `10 * token` (different lengths per batch)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(10.0))

    def forward(self, x):
        return x.float() * self.w


def test_get_preds_joins_differently_padded_batches_in_dataset_order():
    seqs = [[5], [6, 6, 6, 6], [7, 7], [8, 8, 8]]
    items = [(torch.tensor(s), torch.tensor(float(len(s)))) for s in seqs]
    dl = PaddingDL(items, bs=2)  # largest sum first: batches [6 6 6 6], [8 8 8] and [7 7], [5]
    learn = quiet(Learner(DataLoaders(dl, dl), PerToken(), lambda p, y: (p.sum(1) - y).pow(2).mean()))
    inp, preds, targs = learn.get_preds(with_input=True)
    # inputs padded with the loader's pad_idx (1) to the longest sequence of all, in dataset order
    assert inp.tolist() == [[5, 1, 1, 1], [6, 6, 6, 6], [7, 7, 1, 1], [8, 8, 8, 1]]
    # predictions: the batch padding is the model's own output (10 * pad_idx); the join pads with 0
    assert preds.tolist() == [
        [50.0, 10.0, 0.0, 0.0],
        [60.0, 60.0, 60.0, 60.0],
        [70.0, 70.0, 0.0, 0.0],
        [80.0, 80.0, 80.0, 10.0],
    ]
    assert targs.tolist() == [1.0, 4.0, 2.0, 3.0]


def test_a_learner_on_dataframe_rows_exports_without_warnings_and_reads_new_rows(number_dls, tmp_path):
    import warnings

    from lamina.core.learner.export import load_learner

    model = nn.Sequential(nn.Unflatten(0, (-1, 1)), nn.Linear(1, 2))
    learn = quiet(Learner(number_dls, model, loss_func=nn.CrossEntropyLoss(), path=tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the row type (pandas.Series) must be stored, not warned about
        target = learn.export("rows.lamina")
        loaded = load_learner(target)
    (b,) = loaded.dls.test_dl(pd.DataFrame({"n": [1.0, 2.0]})).one_batch()
    assert b.tolist() == [1.0, 2.0]
