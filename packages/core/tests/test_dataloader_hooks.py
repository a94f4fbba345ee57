"""Each of the fifteen hooks, replaced by a constructor keyword and by a subclass, changes behaviour."""

from pathlib import Path

import pytest
import torch

from lamina.core.data.load import HOOK_STAGES, DataLoader

DEFAULT = [[0, 1], [2, 3], [4, 5]]  # list(range(6)) in batches of 2


def plain(batch):
    if isinstance(batch, torch.Tensor):
        return batch.tolist()
    if isinstance(batch, tuple):
        return tuple(plain(b) for b in batch)
    return batch


def case_wif(ds, log):
    return lambda: ds.__setitem__(0, 42)  # runs in the worker, on its copy of the list


# hook -> (replacement made from (dataset, log), extra loader arguments, batches, log afterwards)
CASES = {
    "get_idxs": (lambda ds, log: lambda: [5, 4, 3, 2, 1, 0], {}, [[5, 4], [3, 2], [1, 0]], []),
    "sample": (lambda ds, log: lambda: [1, 1, 2], {}, [[1, 1], [2]], []),
    "shuffle_fn": (lambda ds, log: lambda idxs: idxs[::-1], {"shuffle": True}, [[5, 4], [3, 2], [1, 0]], []),
    "create_item": (lambda ds, log: lambda s: s * 10, {}, [[0, 10], [20, 30], [40, 50]], []),
    "after_item": (lambda ds, log: lambda x: x + 100, {}, [[100, 101], [102, 103], [104, 105]], []),
    "do_item": (lambda ds, log: lambda s: -s, {}, [[0, -1], [-2, -3], [-4, -5]], []),
    "retain": (lambda ds, log: lambda res, items: res * 2, {}, [[0, 2], [4, 6], [8, 10]], []),
    "before_batch": (lambda ds, log: lambda items: items[::-1], {}, [[1, 0], [3, 2], [5, 4]], []),
    "create_batch": (lambda ds, log: lambda items: sum(items), {}, [1, 5, 9], []),
    "do_batch": (lambda ds, log: lambda items: tuple(items), {}, [(0, 1), (2, 3), (4, 5)], []),
    "after_batch": (lambda ds, log: lambda b: b + 1, {}, [[1, 2], [3, 4], [5, 6]], []),
    "create_batches": (lambda ds, log: lambda samples: iter([list(samples)]), {}, [[0, 1, 2, 3, 4, 5]], []),
    "before_iter": (
        lambda ds, log: lambda: (ds.reverse(), log.append("before")),
        {},
        [[5, 4], [3, 2], [1, 0]],
        ["before"],
    ),
    "after_iter": (lambda ds, log: lambda: log.append("after"), {}, DEFAULT, ["after"]),
    "wif": (case_wif, {"num_workers": 1}, [[42, 1], [2, 3], [4, 5]], []),
}


def test_every_hook_has_a_case_and_a_stage():
    assert set(CASES) == set(HOOK_STAGES) == set(DataLoader._methods)
    assert len(HOOK_STAGES) == 15


def run(make_loader, hook):
    """Build the case's dataset, log and replacement; iterate the loader `make_loader` makes."""
    make, extra, _, _ = CASES[hook]
    ds, log = list(range(6)), []
    dl = make_loader(ds, make(ds, log), dict(bs=2, seed=0, **extra))
    return [plain(b) for b in dl], log


@pytest.mark.parametrize("hook", list(CASES))
def test_hook_replaced_by_keyword(hook):
    batches, log = run(lambda ds, fn, kw: DataLoader(ds, **{hook: fn}, **kw), hook)
    assert (batches, log) == (CASES[hook][2], CASES[hook][3])


@pytest.mark.parametrize("hook", list(CASES))
def test_hook_replaced_by_subclass(hook):
    def make_loader(ds, fn, kw):
        sub = type(f"With_{hook}", (DataLoader,), {hook: lambda self, *args: fn(*args)})
        return sub(ds, **kw)

    batches, log = run(make_loader, hook)
    assert (batches, log) == (CASES[hook][2], CASES[hook][3])


@pytest.mark.parametrize("hook", list(CASES))
def test_cases_differ_from_the_default(hook):
    """The expected outcome of each case is not what the default hooks give (so each case can fail)."""
    _, extra, batches, log = CASES[hook]
    default = [plain(b) for b in DataLoader(list(range(6)), bs=2, seed=0, **extra)]
    assert (batches, log) != (default, [])


def test_subclass_hooks_receive_self():
    class Offset(DataLoader):
        offset = 7

        def create_item(self, s):
            return self.dataset[s] + self.offset

    assert [b.tolist() for b in Offset(list(range(4)), bs=2)] == [[7, 8], [9, 10]]


def test_keyword_beats_subclass_and_stays_per_instance():
    class Doubling(DataLoader):
        def after_item(self, item):
            return item * 2

    keyword = Doubling(list(range(4)), bs=4, after_item=lambda x: x + 1)
    assert keyword.one_batch().tolist() == [1, 2, 3, 4]
    assert Doubling(list(range(4)), bs=4).one_batch().tolist() == [0, 2, 4, 6]


def test_hooks_that_are_not_callable_are_refused():
    with pytest.raises(TypeError, match="after_item"):
        DataLoader(list(range(4)), after_item=3)


def test_unknown_keywords_are_refused_with_the_hook_names():
    with pytest.raises(TypeError, match="create_itme.*create_item"):
        DataLoader(list(range(4)), create_itme=lambda s: s)


def test_signature_lists_the_hooks():
    import inspect

    params = inspect.signature(DataLoader).parameters
    assert all(hook in params for hook in HOOK_STAGES)


def test_docs_table_and_docstring_name_every_hook():
    docs = (Path(__file__).resolve().parents[3] / "docs" / "dataloader.md").read_text()
    rows = {
        line.split("|")[1].strip().strip("`").split("(")[0]
        for line in docs.splitlines()
        if line.startswith("| `")
    }
    assert rows == set(HOOK_STAGES)
    for hook, stage in HOOK_STAGES.items():
        assert f"`{hook}(" in DataLoader.__doc__
        row = next(line for line in docs.splitlines() if line.startswith(f"| `{hook}("))
        assert f"| {stage} |" in row
