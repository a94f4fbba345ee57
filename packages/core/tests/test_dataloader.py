"""DataLoader: batching, length, shuffling, streams, devices, new/to, lifecycle (main process only)."""

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import IterableDataset, TensorDataset

from lamina.core.data.load import DataLoader


def values(batches):
    return [b.tolist() for b in batches]


class Stream(IterableDataset):
    """A re-iterable stream of `range(n)` without `__getitem__` or `__len__`."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))


def test_map_style_batches_in_order():
    assert values(DataLoader(list(range(10)), bs=4)) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_batch_size_alias_and_len():
    dl = DataLoader(list(range(10)), batch_size=3)
    assert dl.bs == dl.batch_size == 3
    assert len(dl) == 4 and len(list(dl)) == 4
    assert len(DataLoader(list(range(12)), bs=3)) == 4


def test_drop_last_drops_the_partial_batch():
    dl = DataLoader(list(range(10)), bs=4, drop_last=True)
    assert len(dl) == 2
    assert values(dl) == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_bs_none_gives_items_one_at_a_time_not_collated():
    dl = DataLoader([(1, "a"), (2, "b")], bs=None)
    assert len(dl) == 2
    assert list(dl) == [(1, "a"), (2, "b")]


def test_bs_none_converts_numeric_arrays_only():
    import numpy as np

    (item,) = list(DataLoader([(np.arange(3), "x", 5)], bs=None))
    assert isinstance(item, tuple) and isinstance(item[0], torch.Tensor)
    assert item[0].tolist() == [0, 1, 2] and item[1:] == ("x", 5)


def test_n_overrides_the_length():
    dl = DataLoader(list(range(100)), bs=4, n=10)
    assert len(dl) == 3
    assert values(dl) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_n_with_a_stream_limits_it():
    dl = DataLoader(Stream(100), bs=4, n=6)
    assert not dl.indexed and len(dl) == 2
    assert values(dl) == [[0, 1, 2, 3], [4, 5]]


def test_iterable_dataset_is_detected_and_read_as_a_stream():
    dl = DataLoader(Stream(7), bs=3)
    assert dl.indexed is False and dl.n is None
    assert values(dl) == [[0, 1, 2], [3, 4, 5], [6]]
    assert values(dl) == [[0, 1, 2], [3, 4, 5], [6]]  # a new stream each epoch
    with pytest.raises(TypeError, match="no length"):
        len(dl)


def test_generator_source_and_drop_last_on_a_stream():
    dl = DataLoader((i * i for i in range(5)), bs=2, drop_last=True)
    assert values(dl) == [[0, 1], [4, 9]]


def test_indexed_false_reads_a_list_as_a_stream():
    seen = []

    class Logged(list):
        def __getitem__(self, i):
            seen.append(i)
            return super().__getitem__(i)

    dl = DataLoader(Logged([5, 6, 7]), bs=2, indexed=False)
    assert values(dl) == [[5, 6], [7]] and seen == []


def test_tensor_dataset_gives_tuples_of_stacked_tensors():
    ds = TensorDataset(torch.arange(6).float().view(6, 1), torch.arange(6))
    x, y = DataLoader(ds, bs=4).one_batch()
    assert x.shape == (4, 1) and y.tolist() == [0, 1, 2, 3]


def test_one_batch_is_the_first_batch_and_runs_the_lifecycle():
    calls = []
    dl = DataLoader(list(range(10)), bs=3, before_iter=lambda: calls.append("before"))
    dl.after_iter = lambda: calls.append("after")  # an instance attribute works like the keyword
    assert dl.one_batch().tolist() == [0, 1, 2]
    assert calls == ["before", "after"]


def test_after_iter_runs_when_the_loop_breaks():
    calls = []
    dl = DataLoader(list(range(100)), bs=2, before_iter=lambda: calls.append("before"))
    dl.after_iter = lambda: calls.append("after")
    for i, _ in enumerate(dl):
        if i == 1:
            break
    assert calls == ["before", "after"]
    batches = iter(dl)
    next(batches)
    assert calls[-1] == "before"
    batches.close()
    assert calls[-1] == "after"


def test_after_iter_runs_when_the_loop_body_raises():
    calls = []
    dl = DataLoader(list(range(10)), bs=2, after_iter=lambda: calls.append("after"))
    with pytest.raises(KeyError):
        for _ in dl:
            raise KeyError("boom")
    assert calls == ["after"]


def epoch_orders(dl, epochs=2):
    return [sum(values(dl), []) for _ in range(epochs)]


def test_shuffle_is_a_permutation_that_changes_each_epoch():
    first, second = epoch_orders(DataLoader(list(range(50)), bs=8, shuffle=True, seed=1))
    assert sorted(first) == sorted(second) == list(range(50))
    assert first != list(range(50)) and first != second


def test_seed_makes_shuffling_deterministic():
    a = epoch_orders(DataLoader(list(range(50)), bs=8, shuffle=True, seed=7), 3)
    b = epoch_orders(DataLoader(list(range(50)), bs=8, shuffle=True, seed=7), 3)
    c = epoch_orders(DataLoader(list(range(50)), bs=8, shuffle=True, seed=8), 3)
    assert a == b and a != c


def test_without_seed_shuffling_follows_python_random_seed():
    random.seed(3)
    a = epoch_orders(DataLoader(list(range(30)), bs=8, shuffle=True))
    random.seed(3)
    b = epoch_orders(DataLoader(list(range(30)), bs=8, shuffle=True))
    assert a == b


def test_the_loader_leaves_global_rngs_alone():
    torch.manual_seed(0)
    random.seed(0)
    expected = (torch.rand(1).item(), random.random())
    torch.manual_seed(0)
    random.seed(0)
    list(DataLoader(list(range(30)), bs=4, shuffle=True, seed=1))
    assert (torch.rand(1).item(), random.random()) == expected


SHUFFLE_SCRIPT = """
from lamina.core.data.load import DataLoader
dl = DataLoader(list(range(40)), bs=8, shuffle=True, seed=11)
print([sum((b.tolist() for b in dl), []) for _ in range(2)])
"""


def test_seeded_shuffle_is_the_same_across_runs():
    """A fresh interpreter (another hash seed) gives the order this process gives."""
    here = repr(epoch_orders(DataLoader(list(range(40)), bs=8, shuffle=True, seed=11)))
    src = Path(__file__).resolve().parents[1] / "src"
    env = dict(os.environ, PYTHONHASHSEED=str(os.getpid() % 1000 + 1), PYTHONPATH=str(src))
    run = subprocess.run([sys.executable, "-c", SHUFFLE_SCRIPT], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == here


def test_device_moves_batches_recursively():
    items = [{"x": torch.ones(2), "pair": (torch.zeros(1), [torch.ones(1)])} for _ in range(4)]
    dl = DataLoader(items, bs=2, device="cpu")
    assert dl.device == torch.device("cpu")
    b = dl.one_batch()
    assert b["x"].device.type == "cpu" and b["pair"][1][0].shape == (2, 1)


def test_device_move_keeps_batch_structure_and_reaches_after_batch():
    seen = []
    dl = DataLoader([(torch.ones(2), 1)] * 4, bs=2, after_batch=lambda b: seen.append(b) or b)
    dl.to("cpu")
    x, y = dl.one_batch()
    assert isinstance(seen[0], tuple) and seen[0][0].device == torch.device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_device_moves_batches_to_cuda():
    items = [(torch.ones(2), {"y": torch.tensor(1)}) for _ in range(4)]
    seen = []
    dl = DataLoader(items, bs=2, device="cuda", after_batch=lambda b: seen.append(b[0].device.type) or b)
    x, d = dl.one_batch()
    assert x.is_cuda and d["y"].is_cuda and seen == ["cuda"]
    assert dl.to("cpu").one_batch()[0].device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_pin_memory_pins_batches_and_keeps_tuples():
    items = [(torch.ones(2), torch.zeros(1)) for _ in range(8)]
    for workers in (0, 2):
        batches = list(DataLoader(items, bs=4, pin_memory=True, num_workers=workers))
        assert all(type(b) is tuple and b[0].is_pinned() for b in batches)


def test_to_returns_the_loader_and_changes_the_device():
    dl = DataLoader(list(range(4)), bs=2)
    assert dl.device is None
    assert dl.to("cpu") is dl and dl.device == torch.device("cpu")
    assert dl.to(None).device is None


def test_new_copies_settings_and_keyword_hooks_with_changes():
    dl = DataLoader(list(range(10)), bs=4, shuffle=True, seed=5, after_item=lambda x: x * 10, device="cpu")
    copy = dl.new(shuffle=False)
    assert type(copy) is DataLoader and copy.bs == 4 and copy.device == torch.device("cpu")
    assert values(copy)[0] == [0, 10, 20, 30]
    assert values(dl.new(bs=5))[0] != [0, 10, 20, 30, 40]  # still shuffled
    other = dl.new(list(range(3)), shuffle=False)
    assert other.n == 3 and values(other) == [[0, 10, 20]]
    assert dl.new(batch_size=2).bs == 2


def test_new_keeps_the_subclass_and_its_own_arguments():
    class Scaled(DataLoader):
        def __init__(self, dataset=None, factor=1, **kwargs):
            super().__init__(dataset, **kwargs)
            self.factor = factor

        def after_item(self, item):
            return item * self.factor

    dl = Scaled(list(range(4)), factor=3, bs=2, drop_last=True)
    copy = dl.new(bs=4)
    assert type(copy) is Scaled and copy.factor == 3 and copy.drop_last
    assert values(copy) == [[0, 3, 6, 9]]


def test_n_given_is_kept_by_new_only_for_the_same_dataset():
    dl = DataLoader(list(range(10)), bs=2, n=4)
    assert dl.new().n == 4
    assert dl.new(list(range(6))).n == 6


def test_dataset_none_with_create_item_makes_items_from_indices():
    dl = DataLoader(bs=3, n=5, indexed=True, create_item=lambda i: i * i)
    assert values(dl) == [[0, 1, 4], [9, 16]]


def test_stop_iteration_from_create_item_ends_an_endless_loader():
    counter = iter(range(7))
    dl = DataLoader(bs=3, create_item=lambda s: next(counter))
    assert values(dl) == [[0, 1, 2], [3, 4, 5], [6]]


def test_items_that_come_out_none_are_dropped():
    dl = DataLoader(list(range(6)), bs=3, after_item=lambda x: None if x % 2 else x)
    assert values(dl) == [[0, 2], [4]]


def test_repr_names_the_settings_and_replaced_hooks():
    text = repr(DataLoader(list(range(10)), bs=4, after_item=lambda x: x))
    assert "DataLoader(dataset=list[10], bs=4" in text and "hooks=['after_item']" in text
