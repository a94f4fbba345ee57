"""Default collation: structures, Python and numpy types, tensor subclasses, clear errors."""

from collections import namedtuple

import numpy as np
import pytest
import torch

from lamina.core.data.collate import CollateError, collate, convert, map_tensors, restore_types
from lamina.core.data.load import DataLoader, DataLoaderError

Pair = namedtuple("Pair", "x y")


class Labelled(torch.Tensor):
    """A tensor subclass defined here (torch's default __torch_function__ keeps it through ops)."""


def labelled(values, **meta):
    t = torch.as_tensor(values).as_subclass(Labelled)
    t.__dict__.update(meta)
    return t


def test_tensors_are_stacked():
    b = collate([torch.ones(2, 3), torch.zeros(2, 3)])
    assert b.shape == (2, 2, 3) and b[0].sum() == 6


def test_python_numbers_follow_torch_dtypes():
    assert collate([1, 2]).dtype == torch.int64
    assert collate([1.5, 2]).dtype == torch.float64 and collate([1.5, 2]).tolist() == [1.5, 2.0]
    assert collate([True, False]).dtype == torch.bool
    assert collate([True, 3]).dtype == torch.int64


def test_strings_and_bytes_stay_lists():
    assert collate(["a", "b"]) == ["a", "b"]
    assert collate([b"a", b"b"]) == [b"a", b"b"]


def test_numpy_arrays_and_scalars_become_tensors_of_their_dtype():
    b = collate([np.zeros((2, 2), dtype=np.uint8), np.ones((2, 2), dtype=np.uint8)])
    assert isinstance(b, torch.Tensor) and b.dtype == torch.uint8 and b.shape == (2, 2, 2)
    s = collate([np.float32(1.5), np.float32(2.5)])
    assert s.dtype == torch.float32 and s.tolist() == [1.5, 2.5]
    words = [np.array(["a", "b"]), np.array(["c", "d"])]
    assert collate(words) is not words and all(isinstance(w, np.ndarray) for w in collate(words))


def test_tuples_lists_dicts_are_collated_field_by_field():
    b = collate([(torch.ones(2), 1, "a"), (torch.zeros(2), 2, "b")])
    assert type(b) is tuple and b[0].shape == (2, 2) and b[1].tolist() == [1, 2] and b[2] == ["a", "b"]
    lst = collate([[1, 2.0], [3, 4.0]])
    assert type(lst) is list and lst[0].tolist() == [1, 3] and lst[1].dtype == torch.float64
    d = collate([{"img": torch.ones(3), "meta": {"id": 1}}, {"img": torch.ones(3), "meta": {"id": 2}}])
    assert d["img"].shape == (2, 3) and d["meta"]["id"].tolist() == [1, 2]


def test_named_tuples_keep_their_type():
    b = collate([Pair(1, 2.0), Pair(3, 4.0)])
    assert type(b) is Pair and b.x.tolist() == [1, 3] and b.y.tolist() == [2.0, 4.0]


def test_tensor_subclass_keeps_its_type_and_metadata_through_the_loader():
    items = [(labelled([1.0, 2.0], unit="cm"), 0), (labelled([3.0, 4.0], unit="cm"), 1)]
    x, y = DataLoader(items, bs=2).one_batch()
    assert type(x) is Labelled and x.unit == "cm" and x.shape == (2, 2)
    assert type(y) is torch.Tensor


@pytest.mark.parametrize("workers", [0, 2])
def test_lamina_tensorbase_keeps_its_type_and_metadata_through_the_loader(workers):
    tensors = pytest.importorskip("lamina.core.tensors")
    items = [tensors.TensorBase(torch.ones(2), note="n") for _ in range(6)]
    batches = list(DataLoader(items, bs=3, num_workers=workers))
    assert all(isinstance(b, tensors.TensorBase) and b.shape == (3, 2) and b.note == "n" for b in batches)


def test_restore_types_gives_back_a_lost_subclass_and_metadata():
    res = restore_types((torch.ones(2, 2), torch.zeros(2)), (labelled([1.0, 1.0], unit="s"), torch.zeros(1)))
    assert type(res[0]) is Labelled and res[0].unit == "s" and type(res[1]) is torch.Tensor
    d = restore_types({"a": torch.ones(1)}, {"a": labelled([1.0], unit="m")})
    assert type(d["a"]) is Labelled and d["a"].unit == "m"


def test_custom_create_batch_that_loses_the_subclass_is_repaired_by_retain():
    items = [labelled([1.0], unit="kg") for _ in range(2)]
    b = DataLoader(
        items, bs=2, create_batch=lambda xs: torch.cat([x.as_subclass(torch.Tensor) for x in xs])
    ).one_batch()
    assert type(b) is Labelled and b.unit == "kg"


def test_ragged_tensors_raise_a_collate_error_with_positions_and_shapes():
    with pytest.raises(
        CollateError, match=r"ragged.*shape \(3,\) at batch positions \[0, 2\].*\(4,\) at .*\[1\]"
    ):
        collate([torch.zeros(3), torch.zeros(4), torch.zeros(3)])


def test_ragged_items_in_a_loader_name_the_dataset_indices_and_shapes():
    items = [(torch.zeros(3), 0)] * 5 + [(torch.zeros(5), 1)]
    dl = DataLoader(items, bs=3)
    with pytest.raises(DataLoaderError) as info:
        list(dl)
    text = str(info.value)
    assert "`create_batch`" in text and "batch 1" in text and "at item[0]" in text
    assert "shape (3,) at items [3, 4]" in text and "shape (5,) at items [5]" in text
    assert isinstance(info.value.__cause__, CollateError)


def test_mismatched_structures_are_named():
    with pytest.raises(CollateError, match=r"different keys.*\['a'\] at batch positions \[0\]"):
        collate([{"a": 1}, {"b": 2}])
    with pytest.raises(CollateError, match="different lengths.*length 2.*length 3"):
        collate([(1, 2), (1, 2, 3)])
    with pytest.raises(CollateError, match=r"different types.*int at batch positions \[0\].*str"):
        collate([1, "a"])
    with pytest.raises(CollateError, match="different types"):
        collate([torch.zeros(1), np.zeros(1)])


def test_unsupported_items_say_what_to_do():
    with pytest.raises(CollateError, match="cannot collate items of type .*object.*after_item"):
        collate([object(), object()])
    with pytest.raises(CollateError, match="empty"):
        collate([])


def test_convert_turns_numeric_arrays_into_tensors_and_keeps_the_rest():
    item = {"a": np.arange(2), "b": (np.float32(1), "s"), "c": np.array(["x"])}
    out = convert(item)
    assert isinstance(out["a"], torch.Tensor) and out["b"][1] == "s" and isinstance(out["c"], np.ndarray)


def test_map_tensors_rebuilds_structures():
    batch = {"x": (torch.ones(1), [torch.zeros(1)]), "p": Pair(torch.ones(1), "k")}
    out = map_tensors(lambda t: t + 1, batch)
    assert out["x"][0].item() == 2 and out["x"][1][0].item() == 1
    assert type(out["p"]) is Pair and out["p"].y == "k" and type(out["x"]) is tuple
