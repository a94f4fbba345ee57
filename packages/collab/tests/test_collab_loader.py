"""CollabDataLoader: the tabular loader's batches, cut from one index tensor per epoch."""

import pytest
import torch

from lamina.collab.data import CollabDataLoaders
from lamina.collab.loader import CollabDataLoader
from lamina.tabular.loader import TabDataLoader


def _epoch(dl) -> list[tuple[torch.Tensor, ...]]:
    return list(dl)


def _same(a, b) -> bool:
    return len(a) == len(b) and all(all(torch.equal(x, y) for x, y in zip(p, q)) for p, q in zip(a, b))


@pytest.fixture
def dls(ratings) -> CollabDataLoaders:
    return CollabDataLoaders.from_df(ratings, bs=100, seed=3)


def test_from_df_uses_it(dls):
    assert type(dls.train) is CollabDataLoader and type(dls.valid) is CollabDataLoader


@pytest.mark.parametrize(
    ("shuffle", "drop_last"), [(True, True), (True, False), (False, False), (False, True)]
)
def test_same_batches_as_the_tabular_loader(dls, shuffle, drop_last):
    table = dls.train.dataset
    ours = CollabDataLoader(table, bs=64, shuffle=shuffle, drop_last=drop_last, seed=11)
    theirs = TabDataLoader(table, bs=64, shuffle=shuffle, drop_last=drop_last, seed=11)
    for _ in range(2):  # a new permutation each epoch, the same on both sides
        a, b = _epoch(ours), _epoch(theirs)
        assert _same(a, b)
        assert len(a) == len(ours)
    sizes = [len(x) for x, _, _ in a]
    assert sizes[-1] == (64 if drop_last else len(table) % 64 or 64)


def test_a_shuffled_epoch_visits_every_row_once_in_a_new_order(dls):
    table = dls.valid.dataset
    dl = CollabDataLoader(table, bs=7, shuffle=True, seed=0)
    first = torch.cat([x for x, _, _ in dl])
    second = torch.cat([x for x, _, _ in dl])
    expected = dl.tensors.cats
    key = lambda x: (x[:, 0] * 1000 + x[:, 1]).sort().values  # noqa: E731 - (user, item) pairs are unique
    assert torch.equal(key(first), key(expected)) and torch.equal(key(second), key(expected))
    assert not torch.equal(first, second) and not torch.equal(first, expected)


def test_after_batch_and_test_dl_still_apply(dls):
    seen = []
    dl = dls.valid.new(after_batch=lambda b: seen.append(len(b[0])) or b)
    assert sum(len(x) for x, _, _ in dl) == len(dls.valid.dataset)
    assert sum(seen) == len(dls.valid.dataset)
    test = dls.test_dl(dls.valid.dataset.decode().items.iloc[:5][["userId", "movieId"]])
    assert type(test) is CollabDataLoader
    x, x_cont = test.one_batch()
    assert torch.equal(x, dls.valid.tensors.cats[:5]) and x_cont.shape == (5, 0)
