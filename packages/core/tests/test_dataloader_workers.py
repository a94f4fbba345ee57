"""Worker processes: the same batches as without workers, per-worker seeding, wif, errors, persistence."""

import pickle
import random

import numpy as np
import pytest
import torch
from torch.utils.data import IterableDataset, get_worker_info

from lamina.core.data.load import DataLoader, DataLoaderError


def plain(batch):
    if isinstance(batch, torch.Tensor):
        return batch.tolist()
    if isinstance(batch, dict):
        return {k: plain(v) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(plain(b) for b in batch)
    return batch


def epochs(dl, count=2):
    return [[plain(b) for b in dl] for _ in range(count)]


class Stream(IterableDataset):
    """A re-iterable stream of (i, str(i)) without length."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return ((i, str(i)) for i in range(self.n))


@pytest.mark.parametrize(
    "settings",
    [
        dict(bs=4, shuffle=True, seed=3),  # 27 items: a partial last batch
        dict(bs=4, shuffle=True, seed=3, drop_last=True),
        dict(bs=None, shuffle=True, seed=5),
    ],
)
def test_two_workers_give_the_batches_of_none(settings):
    items = [{"x": torch.full((2,), i), "y": (i, f"s{i}")} for i in range(27)]
    main = epochs(DataLoader(items, **settings))
    workers = epochs(DataLoader(items, num_workers=2, **settings))
    assert workers == main
    assert main[0] != main[1]  # shuffled differently per epoch, identically on both sides


def test_a_stream_with_workers_gives_the_batches_of_none():
    main = epochs(DataLoader(Stream(23), bs=5), 1)
    workers = epochs(DataLoader(Stream(23), bs=5, num_workers=2), 1)
    assert workers == main and sum(len(b[0]) for b in main[0]) == 23


def test_persistent_workers_follow_the_epochs():
    main = epochs(DataLoader(list(range(30)), bs=4, shuffle=True, seed=9), 3)
    dl = DataLoader(list(range(30)), bs=4, shuffle=True, seed=9, num_workers=2, persistent_workers=True)
    assert epochs(dl, 3) == main
    assert len({str(e) for e in main}) == 3


def test_a_batch_whose_items_are_all_dropped_keeps_the_order_with_workers():
    def drop_batch_two(x):
        return None if 4 <= x < 6 else x

    main = epochs(DataLoader(list(range(12)), bs=2, after_item=drop_batch_two), 1)
    workers = epochs(DataLoader(list(range(12)), bs=2, after_item=drop_batch_two, num_workers=2), 1)
    assert main == [[[0, 1], [2, 3], [6, 7], [8, 9], [10, 11]]] and workers == main


def test_a_pickled_loader_makes_the_same_batches():
    """What a spawned worker receives: the loader without its torch loader or open stream."""
    dl = DataLoader(Stream(9), bs=4, num_workers=2, persistent_workers=True)
    first = epochs(dl, 1)
    copy = pickle.loads(pickle.dumps(dl))
    assert epochs(copy, 1) == first == epochs(DataLoader(Stream(9), bs=4), 1)


def test_prefetch_factor_and_timeout_are_accepted_with_workers():
    dl = DataLoader(list(range(20)), bs=3, num_workers=2, prefetch_factor=4, timeout=30)
    assert epochs(dl, 1) == epochs(DataLoader(list(range(20)), bs=3), 1)


def random_draws(i):
    info = get_worker_info()
    return (info.id if info else -1, random.random(), float(np.random.rand()), torch.rand(1).item())


def draws_by_worker(dl):
    batches = [plain(b) for b in dl]
    return {wid: [b[1:] for b in batches if b[0] == wid] for wid in (0, 1)}


def test_workers_are_seeded_differently_per_worker_and_per_epoch_and_repeatably():
    def loader():
        return DataLoader(list(range(4)), bs=None, num_workers=2, create_item=random_draws, seed=1)

    dl = loader()
    first, second = draws_by_worker(dl), draws_by_worker(dl)
    for epoch in (first, second):
        w0, w1 = epoch[0][0], epoch[1][0]
        assert len(epoch[0]) == len(epoch[1]) == 2
        assert all(a != b for a, b in zip(w0, w1))  # random, numpy and torch all differ
    assert first[0] != second[0] and first[1] != second[1]
    again = loader()
    assert draws_by_worker(again) == first


def test_persistent_workers_are_reseeded_each_epoch():
    dl = DataLoader(
        list(range(4)), bs=None, num_workers=2, create_item=random_draws, seed=1, persistent_workers=True
    )
    first, second = draws_by_worker(dl), draws_by_worker(dl)
    assert first[0] != second[0] and first[1] != second[1]


def test_wif_runs_in_each_worker_at_each_epoch():
    calls = torch.zeros(2, dtype=torch.int64).share_memory_()

    def wif():
        calls[get_worker_info().id] += 1

    for persistent in (False, True):
        calls.zero_()
        dl = DataLoader(list(range(8)), bs=2, num_workers=2, wif=wif, persistent_workers=persistent)
        epochs(dl, 2)
        assert calls.tolist() == [2, 2]


def test_an_error_in_a_worker_reaches_the_main_process_with_its_message():
    def create_item(s):
        if s == 5:
            raise KeyError("missing file 5.png")
        return s

    dl = DataLoader(list(range(8)), bs=2, num_workers=2, create_item=create_item)
    with pytest.raises(
        DataLoaderError, match=r"(?s)hook `create_item` failed on item 5 \(batch 2\).*missing file"
    ):
        list(dl)


def test_one_batch_does_not_start_workers():
    dl = DataLoader(list(range(8)), bs=2, num_workers=2, create_item=lambda s: get_worker_info() is None)
    assert dl.one_batch().tolist() == [True, True]
    assert all(not b.any() for b in dl)
