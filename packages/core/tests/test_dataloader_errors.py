"""Clear errors: the failing hook, the item or batch, the original exception; bad arguments; empty data."""

import pytest
from torch.utils.data import IterableDataset

from lamina.core.data.load import DataLoader, DataLoaderError


class Stream(IterableDataset):
    def __iter__(self):
        return iter(range(5))


def failing_at(bad):
    def fn(x):
        if x == bad:
            raise KeyError(f"no label for {x}")
        return x

    return fn


def raised(dl):
    with pytest.raises(DataLoaderError) as info:
        list(dl)
    return info.value


@pytest.mark.parametrize("hook", ["create_item", "do_item", "after_item"])
def test_item_hook_error_names_the_hook_and_the_item_and_keeps_the_cause(hook):
    error = raised(DataLoader(list(range(10)), bs=4, **{hook: failing_at(6)}))
    assert f"hook `{hook}` failed on item 6 (batch 1)" in str(error)
    assert "KeyError" in str(error) and "no label for 6" in str(error)
    assert isinstance(error.__cause__, KeyError)


def test_dataset_getitem_error_is_reported_as_create_item():
    class Broken(list):
        def __getitem__(self, i):
            if i == 2:
                raise ValueError("corrupt file")
            return super().__getitem__(i)

    error = raised(DataLoader(Broken(range(4)), bs=2, shuffle=True, seed=0))
    assert "hook `create_item` failed on item 2" in str(error) and "corrupt file" in str(error)


def test_stream_item_error_names_its_position():
    error = raised(DataLoader(Stream(), bs=2, after_item=failing_at(3)))
    assert "hook `after_item` failed on stream item #3 (batch 1)" in str(error)


@pytest.mark.parametrize("hook", ["before_batch", "create_batch", "do_batch", "retain"])
def test_batch_hook_error_names_the_hook_the_batch_and_its_items(hook):
    def fn(*args):
        raise RuntimeError("bad batch")

    error = raised(DataLoader(list(range(10)), bs=4, **{hook: fn}))
    assert f"hook `{hook}` failed on batch 0 (items [0, 1, 2, 3])" in str(error)
    assert isinstance(error.__cause__, RuntimeError)


def test_after_batch_error_names_the_batch():
    def fn(b):
        if b[0] == 4:
            raise ZeroDivisionError("oops")
        return b

    error = raised(DataLoader(list(range(10)), bs=4, after_batch=fn))
    assert "hook `after_batch` failed on batch 1" in str(error)


@pytest.mark.parametrize("hook", ["before_iter", "get_idxs", "sample", "create_batches", "shuffle_fn"])
def test_epoch_hook_errors_name_the_hook(hook):
    def fn(*args):
        raise OSError("disk gone")

    error = raised(DataLoader(list(range(4)), bs=2, shuffle=True, **{hook: fn}))
    assert f"`{'get_idxs' if hook == 'shuffle_fn' else hook}` failed" in str(error)
    assert "disk gone" in str(error)


def test_after_iter_error_names_the_hook():
    def fn():
        raise OSError("cannot save")

    error = raised(DataLoader(list(range(4)), bs=2, after_iter=fn))
    assert "hook `after_iter` failed" in str(error)


def test_empty_dataset_fails_at_iteration_not_construction():
    dl = DataLoader([], bs=4)
    assert len(dl) == 0
    with pytest.raises(ValueError, match="empty"):
        list(dl)
    with pytest.raises(ValueError, match="empty"):
        dl.one_batch()


def test_drop_last_with_fewer_items_than_bs_is_explained():
    with pytest.raises(ValueError, match="drop_last=True with 3 items and bs=4 gives no batches"):
        list(DataLoader([1, 2, 3], bs=4, drop_last=True))


def test_a_consumed_generator_is_explained_on_the_next_epoch():
    dl = DataLoader((i for i in range(3)), bs=2)
    assert len(list(dl)) == 2
    with pytest.raises(ValueError, match="yielded no items.*only once"):
        list(dl)


def test_shuffle_of_a_stream_is_refused():
    with pytest.raises(ValueError, match="shuffle=True.*indexed"):
        DataLoader(Stream(), shuffle=True)
    with pytest.raises(ValueError, match="shuffle=True.*indexed"):
        DataLoader(list(range(3)), shuffle=True, indexed=False)


def test_no_dataset_and_no_create_item_is_refused_at_iteration():
    with pytest.raises(ValueError, match="no dataset"):
        list(DataLoader(n=3))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"bs": 0}, "bs"),
        ({"bs": 2.5}, "bs"),
        ({"batch_size": -1}, "bs"),
        ({"n": -1}, "n"),
        ({"num_workers": -1}, "num_workers"),
        ({"prefetch_factor": 0}, "prefetch_factor"),
        ({"timeout": -1}, "timeout"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=rf"DataLoader\({name}="):
        DataLoader(list(range(4)), **kwargs)
