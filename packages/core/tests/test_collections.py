"""`L`: construction, NumPy-like indexing, functional methods, list protocol, repr, pickling."""

import copy
import itertools
import operator
import pickle
import random
from collections.abc import MutableSequence, Sequence
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lamina.core.basics.collections import L
from lamina.core.basics.functional import gt, is_listy


class Point:
    def __init__(self, x, y=0):
        self.x, self.y = x, y

    def __repr__(self):
        return f"Point({self.x})"


# --- the paper's example ------------------------------------------------------------------------------


def test_paper_example():
    # values 1, -5, 6, 9 -> abs 1, 5, 6, 9 -> those > 4: 5, 6, 9 -> 20
    assert L(dict(a=1, b=-5, d=6, e=9).items()).itemgot(1).map(abs).filter(gt(4)).sum() == 20


def test_paper_example_steps():
    pairs = L(dict(a=1, b=-5, d=6, e=9).items())
    assert pairs == [("a", 1), ("b", -5), ("d", 6), ("e", 9)]
    assert pairs.itemgot(1) == [1, -5, 6, 9]
    assert pairs.itemgot(1).map(abs) == [1, 5, 6, 9]
    assert pairs.itemgot(1).map(abs).filter(gt(4)) == [5, 6, 9]


# --- construction -------------------------------------------------------------------------------------


def test_construction():
    assert L().items == [] and L(None).items == []
    assert L(1).items == [1]
    assert L("abc").items == ["abc"]
    assert L(range(3)).items == [0, 1, 2]
    assert L(x * x for x in range(3)).items == [0, 1, 4]
    assert L(1, 2, 3).items == [1, 2, 3]
    assert L([1, 2], [3]).items == [[1, 2], [3]]
    assert L((4, 5)).items == [4, 5]
    assert L({"a": 1, "b": 2}).items == ["a", "b"]
    assert L(L(1, 2)).items == [1, 2]
    assert type(L().items) is list


def test_construction_copies_its_input():
    src = [1, 2]
    lst = L(src)
    lst.append(3)
    assert src == [1, 2]


def test_construction_from_tensor_and_array_gives_rows():
    rows = L(torch.arange(6).view(3, 2))
    assert len(rows) == 3 and torch.equal(rows[2], torch.tensor([4, 5]))
    assert L(np.array([1, 2, 3])) == [1, 2, 3]
    assert len(L(torch.tensor(3.0))) == 1


def test_use_list():
    assert L("abc", use_list=True).items == ["a", "b", "c"]
    assert L((1, 2), use_list=True).items == [1, 2]
    assert L(None, use_list=True).items == []
    with pytest.raises(TypeError, match="use_list=True.*iterable.*int"):
        L(5, use_list=True)


def test_is_a_registered_mutable_sequence_and_listy():
    assert isinstance(L(), MutableSequence) and isinstance(L(), Sequence)
    assert is_listy(L(1))
    assert torch.equal(torch.tensor(L(1, 2, 3)), torch.tensor([1, 2, 3]))
    assert np.array_equal(np.array(L(1, 2, 3)), np.array([1, 2, 3]))


# --- indexing: get -------------------------------------------------------------------------------------


def test_get_int_and_negative():
    lst = L(10, 11, 12)
    assert lst[0] == 10 and lst[-1] == 12
    assert lst[np.int64(1)] == 11
    assert lst[torch.tensor(2)] == 12
    assert lst[np.array(1)] == 11


def test_get_slice_returns_L():
    lst = L.range(6)
    part = lst[1:5:2]
    assert isinstance(part, L) and part.items == [1, 3]
    assert lst[::-1].items == [5, 4, 3, 2, 1, 0]


def test_get_list_and_tuple_of_ints():
    lst = L("a", "b", "c", "d")
    picked = lst[[3, 0, -1]]
    assert isinstance(picked, L) and picked.items == ["d", "a", "d"]
    assert lst[(1, 2)].items == ["b", "c"]
    assert lst[[]].items == []
    assert lst[L(0, 1)].items == ["a", "b"]
    assert lst[range(1, 3)].items == ["b", "c"]


def test_get_bool_masks():
    lst = L("a", "b", "c")
    assert lst[[True, False, True]].items == ["a", "c"]
    assert lst[np.array([False, True, True])].items == ["b", "c"]
    assert lst[torch.tensor([True, True, False])].items == ["a", "b"]


def test_get_integer_arrays():
    lst = L.range(10, 15)
    assert lst[np.array([4, 0])].items == [14, 10]
    assert lst[torch.tensor([1, 1, -1])].items == [11, 11, 14]
    assert lst[np.array([2], dtype=np.uint8)].items == [12]


def test_get_out_of_range_names_index_and_length():
    lst = L(1, 2, 3)
    with pytest.raises(IndexError, match="index 3 is out of range for length 3"):
        lst[3]
    with pytest.raises(IndexError, match="index -4 is out of range for length 3"):
        lst[-4]
    with pytest.raises(IndexError, match="index 7 is out of range for length 3"):
        lst[[0, 7]]
    with pytest.raises(IndexError, match="index 5 is out of range for length 3"):
        lst[torch.tensor([5])]


def test_get_bad_mask_and_index_types():
    lst = L(1, 2, 3)
    with pytest.raises(IndexError, match="mask has length 2 but the L has length 3"):
        lst[[True, False]]
    with pytest.raises(IndexError, match="mask has length 4"):
        lst[torch.tensor([True, False, True, True])]
    with pytest.raises(TypeError, match="mixes bools and integers"):
        lst[[True, 1]]
    with pytest.raises(TypeError, match="dtype float"):
        lst[np.array([0.0, 1.0])]
    with pytest.raises(TypeError, match="dtype torch.float32"):
        lst[torch.tensor([0.0])]
    with pytest.raises(TypeError, match="not str"):
        lst["a"]
    with pytest.raises(TypeError, match="is a bool"):
        lst[True]
    with pytest.raises(IndexError, match="0-d or 1-d"):
        lst[np.zeros((1, 1), dtype=int)]


# --- indexing: set and delete -------------------------------------------------------------------------


def test_set_int():
    lst = L(1, 2, 3)
    lst[1] = "x"
    lst[-1] = "y"
    assert lst.items == [1, "x", "y"]
    with pytest.raises(IndexError, match="index 3 is out of range for length 3"):
        lst[3] = 0


def test_set_slice_list_semantics_and_broadcast():
    lst = L.range(5)
    lst[1:3] = [9, 9, 9]
    assert lst.items == [0, 9, 9, 9, 3, 4]
    lst[::2] = 0
    assert lst.items == [0, 9, 0, 9, 0, 4]
    lst[0:2] = "ab"  # a string is one value, repeated
    assert lst.items == ["ab", "ab", 0, 9, 0, 4]
    with pytest.raises(ValueError, match="cannot assign 2 values to a slice of 3 positions"):
        lst[::2] = [1, 2]


def test_set_many_positions():
    lst = L.range(5)
    lst[[0, 2]] = ["a", "b"]
    assert lst.items == ["a", 1, "b", 3, 4]
    lst[[True, False, False, False, True]] = None
    assert lst.items == [None, 1, "b", 3, None]
    lst[np.array([1, 3])] = torch.tensor([7, 8])  # a 1-d tensor is spread over the positions
    assert int(lst[1]) == 7 and int(lst[3]) == 8
    with pytest.raises(ValueError, match="cannot assign 3 values to 2 positions"):
        lst[[0, 1]] = [1, 2, 3]
    with pytest.raises(IndexError, match="index 9 is out of range for length 5"):
        lst[[9]] = 1


def test_delete():
    lst = L.range(6)
    del lst[0]
    assert lst.items == [1, 2, 3, 4, 5]
    del lst[[0, -1, 0]]
    assert lst.items == [2, 3, 4]
    del lst[np.array([True, False, True])]
    assert lst.items == [3]
    lst = L.range(6)
    del lst[::2]
    assert lst.items == [1, 3, 5]
    with pytest.raises(IndexError, match="index 5 is out of range for length 3"):
        del lst[5]


# --- functional methods -------------------------------------------------------------------------------


def test_map_with_extra_args_after_item():
    assert L(1, 2, 3).map(operator.add, 10).items == [11, 12, 13]
    assert L(2, 3).map(pow, 2).items == [4, 9]
    assert L("a", "b").map(lambda x, n, fill: fill * n + x, 2, fill="*").items == ["**a", "**b"]


def test_map_dict_and_format_string():
    assert L("x", "y").map({"x": 0, "y": 1}).items == [0, 1]
    assert L(1, 2).map("item {}").items == ["item 1", "item 2"]
    with pytest.raises(TypeError, match="L.map.*callable.*int"):
        L(1).map(5)


def test_starmap_and_map_dict():
    assert L((1, 2), (3, 4)).starmap(operator.mul).items == [2, 12]
    assert L(1, 2).map_dict(lambda x: x * 10) == {1: 10, 2: 20}
    assert L("a").map_dict() == {"a": "a"}


def test_filter():
    lst = L.range(6)
    assert lst.filter(gt(3)).items == [4, 5]
    assert lst.filter(gt(3), negate=True).items == [0, 1, 2, 3]
    assert L(0, 1, "", "a", None).filter().items == [1, "a"]
    with pytest.raises(TypeError, match="L.filter.*callable"):
        lst.filter(3)


def test_argwhere():
    assert L(5, 1, 7, 2).argwhere(gt(4)).items == [0, 2]
    assert L(5, 1, 7, 2).argwhere(gt(4), negate=True).items == [1, 3]
    with pytest.raises(TypeError, match="argwhere.*callable"):
        L(1).argwhere("x")


def test_itemgot():
    lst = L([1, [2, 3]], [4, [5, 6]])
    assert lst.itemgot(0).items == [1, 4]
    assert lst.itemgot(1, 0).items == [2, 5]
    assert L({"a": 1}, {"a": 2}).itemgot("a").items == [1, 2]
    assert lst.itemgot().items == lst.items


def test_itemgot_bad_index_names_item():
    with pytest.raises(IndexError, match=r"item 1 \(\[4\]\) has no index 1"):
        L([1, 2], [4]).itemgot(1)
    with pytest.raises(KeyError, match="item 0.*has no index 'b'"):
        L([{"a": 1}]).itemgot("b")


def test_attrgot():
    pts = L(Point(1), Point(2, 5))
    assert pts.attrgot("x").items == [1, 2]
    assert pts.attrgot("z").items == [None, None]
    assert pts.attrgot("z", default=0).items == [0, 0]
    assert L({"k": 1}, {"j": 2}).attrgot("k", "?").items == [1, "?"]


def test_sorted_with_callable_attribute_and_index():
    assert L(3, 1, 2).sorted().items == [1, 2, 3]
    assert L(3, 1, 2).sorted(reverse=True).items == [3, 2, 1]
    assert L("bb", "a", "ccc").sorted(len).items == ["a", "bb", "ccc"]
    pts = L(Point(3), Point(1), Point(2))
    assert pts.sorted("x").attrgot("x").items == [1, 2, 3]
    assert L({"v": 2}, {"v": 1}).sorted("v").items == [{"v": 1}, {"v": 2}]
    assert L((1, "b"), (2, "a")).sorted(1).items == [(2, "a"), (1, "b")]
    assert L((1, "b"), (2, "a")).sorted(0, reverse=True).items == [(2, "a"), (1, "b")]


def test_sorted_is_stable_and_leaves_original():
    lst = L((1, "x"), (0, "y"), (1, "a"))
    assert lst.sorted(0).items == [(0, "y"), (1, "x"), (1, "a")]
    assert lst.items == [(1, "x"), (0, "y"), (1, "a")]


def test_sorted_bad_keys_say_what_is_missing():
    with pytest.raises(
        AttributeError, match=r"key='missing'.*item 1 \(Point\(2\)\) has no attribute 'missing'"
    ):
        L(SimpleNamespace(missing=1), Point(2)).sorted("missing")
    with pytest.raises(IndexError, match=r"key=2.*item 0 \(\(1, 2\)\) has no index 2"):
        L([(1, 2)]).sorted(2)
    with pytest.raises(TypeError, match="callable, an attribute name or an int index"):
        L(1).sorted(key=1.5)
    with pytest.raises(TypeError, match="L.sorted: cannot order the items"):
        L(1, "a").sorted()


def test_sort_in_place():
    lst = L(Point(2), Point(1))
    lst.sort("x")
    assert lst.attrgot("x").items == [1, 2]


def test_unique_keeps_order():
    assert L(3, 1, 3, 2, 1).unique().items == [3, 1, 2]
    assert L([1], [2], [1]).unique().items == [[1], [2]]  # unhashable items
    assert L().unique().items == []


def test_sum_product_reduce():
    assert L(1, 2, 3).sum() == 6 and L().sum() == 0
    assert L(2, 3, 4).product() == 24 and L().product() == 1
    assert L(0.5, 0.25).sum() == 0.75
    assert torch.equal(L(torch.ones(2), torch.ones(2)).sum(), torch.tensor([2.0, 2.0]))
    assert L(1, 2, 3).reduce(operator.sub) == -4
    assert L(1, 2, 3).reduce(operator.sub, 10) == 4
    assert L().reduce(operator.add, None) is None  # None is a real initial value
    with pytest.raises(TypeError, match="empty L needs an initial value"):
        L().reduce(operator.add)


def test_concat_flattens_one_level():
    assert L([1, 2], (3,), L(4), 5, "ab").concat().items == [1, 2, 3, 4, 5, "ab"]
    assert L([[1], [2]], [3]).concat().items == [[1], [2], 3]


def test_zip_and_cycled_zip():
    assert L([1, 2, 3], ["a", "b", "c"]).zip().items == [(1, "a"), (2, "b"), (3, "c")]
    assert L([1, 2, 3], [4]).zip().items == [(1, 4)]
    assert L([1, 2, 3], [4, 5]).zip(cycled=True).items == [(1, 4), (2, 5), (3, 4)]
    assert L().zip(cycled=True).items == []


def test_zipwith_and_map_zip():
    assert L(1, 2).zipwith([3, 4], [5, 6]).items == [(1, 3, 5), (2, 4, 6)]
    assert L(1, 2, 3).zipwith([0], cycled=True).items == [(1, 0), (2, 0), (3, 0)]
    assert L([1, 2], [10, 20]).map_zip(operator.add).items == [11, 22]
    assert L([1, 2], [10]).map_zip(lambda a, b, c: a * b + c, 1, cycled=True).items == [11, 21]


def test_enumerate():
    assert L("a", "b").enumerate().items == [(0, "a"), (1, "b")]


def test_shuffle_returns_a_permuted_copy():
    lst = L.range(50)
    mixed = lst.shuffle(random.Random(0))
    assert lst.items == list(range(50))
    assert sorted(mixed.items) == list(range(50)) and mixed.items != lst.items
    assert mixed.items == L.range(50).shuffle(random.Random(0)).items  # same seed, same order


def test_val2idx():
    assert L("a", "b", "c").val2idx() == {"a": 0, "b": 1, "c": 2}
    with pytest.raises(TypeError, match=r"val2idx: item 1 \(\[2\]\) is not hashable"):
        L(1, [2]).val2idx()


def test_cycle():
    assert list(itertools.islice(L(1, 2).cycle(), 5)) == [1, 2, 1, 2, 1]
    assert list(L().cycle()) == []


def test_split_on_class_splits_strings():
    assert L.split("a b  c").items == ["a", "b", "c"]
    assert L.split("a,b,,c", ",").items == ["a", "b", "", "c"]
    assert L.split("a,b,c", ",", 1).items == ["a", "b,c"]
    with pytest.raises(TypeError, match="splits a string"):
        L.split(3)


def test_split_on_instance_cuts_at_separators():
    parts = L(1, 0, 2, 3, 0, 4).split(0)
    assert parts == [[1], [2, 3], [4]] and all(isinstance(p, L) for p in parts)
    assert L(1, 0, 0, 2).split(0) == [[1], [], [2]]
    assert L(1, 5, 2, 7, 3).split(gt(4)) == [[1], [2], [3]]
    assert L(1, 0, 2, 0, 3).split(0, maxsplit=1) == [[1], [2, 0, 3]]
    assert L().split(0) == [[]]


def test_range_classmethod():
    assert L.range(3).items == [0, 1, 2]
    assert L.range(2, 5).items == [2, 3, 4]
    assert L.range(0, 10, 3).items == [0, 3, 6, 9]
    assert L.range([7, 7]).items == [0, 1]


def test_setattrs():
    pts = L(Point(1), Point(2))
    pts.setattrs("y", 9)
    assert pts.attrgot("y").items == [9, 9]


# --- operators and list protocol ----------------------------------------------------------------------


def test_add_and_radd():
    assert (L(1) + [2, 3]).items == [1, 2, 3]
    assert (L(1) + 2).items == [1, 2]
    res = [0] + L(1)
    assert isinstance(res, L) and res.items == [0, 1]
    assert (L(1) + L(2)).items == [1, 2]
    lst = L(1)
    lst += [2]
    assert lst.items == [1, 2]
    assert (L(1, 2) * 2).items == [1, 2, 1, 2] and (2 * L(3)).items == [3, 3]


def test_equality_with_lists_tuples_and_tensors():
    assert L(1, 2) == [1, 2] and [1, 2] == L(1, 2)
    assert L(1, 2) == (1, 2)
    assert L(1, 2) == L(1, 2)
    assert L(1, 2) != [1, 2, 3] and L(1, 2) != [2, 1]
    assert L(1) != 1 and L("a") != "a"
    assert L([torch.tensor([1, 2])]) == [torch.tensor([1, 2])]
    assert L([torch.tensor([1, 2])]) != [torch.tensor([1, 3])]
    assert L([torch.tensor([1])]) != [torch.tensor([[1]])]  # same values, different shapes
    assert L([np.array([1, 2])]) != [np.array([1, 2, 3])]
    assert L([[1, 2]]) == [[1, 2]] and L([[1, 2]]) != [(1, 2)]


def test_not_hashable():
    with pytest.raises(TypeError):
        hash(L(1))


def test_contains_len_bool_iter():
    lst = L(1, "a", None)
    assert 1 in lst and "a" in lst and None in lst and 2 not in lst
    t = torch.tensor([1, 2])
    assert torch.tensor([1, 2]) in L([t]) and torch.tensor([1, 3]) not in L([t])
    assert 5 not in L([torch.tensor([5, 6])]) and 5 in L(torch.tensor([5, 6]))
    assert len(lst) == 3 and len(L()) == 0
    assert bool(L(0)) and not bool(L())
    assert list(lst) == [1, "a", None] and list(reversed(lst)) == [None, "a", 1]


def test_mutating_methods():
    lst = L(1, 2)
    lst.append(3)
    lst.insert(0, 0)
    lst.extend([4, 5])
    lst.extend("ab")  # a string is one item, as in L("ab")
    assert lst.items == [0, 1, 2, 3, 4, 5, "ab"]
    assert lst.pop() == "ab" and lst.pop(0) == 0
    lst.remove(3)
    assert lst.items == [1, 2, 4, 5]
    assert lst.index(4) == 2 and L(1, 2, 1).count(1) == 2
    lst.reverse()
    assert lst.items == [5, 4, 2, 1]
    lst.clear()
    assert lst.items == []


def test_mutating_methods_bad_input():
    with pytest.raises(IndexError, match="pop from an empty L"):
        L().pop()
    with pytest.raises(IndexError, match="index 5 is out of range for length 2"):
        L(1, 2).pop(5)
    with pytest.raises(ValueError, match="L.remove: 9 is not in the L"):
        L(1, 2).remove(9)
    with pytest.raises(ValueError, match="L.index: 9 is not in the L"):
        L(1, 2).index(9)
    lst = L(torch.tensor([1, 2]), torch.tensor([3, 4]))
    lst.remove(torch.tensor([3, 4]))
    assert len(lst) == 1


def test_copy_is_shallow_and_independent():
    inner = [1]
    lst = L(inner, 2)
    for dup in (lst.copy(), copy.copy(lst)):
        assert isinstance(dup, L) and dup == lst
        dup.append(3)
        assert len(lst) == 2
        assert dup[0] is inner
    deep = copy.deepcopy(lst)
    assert deep == lst and deep[0] is not inner


def test_pickle_roundtrip():
    lst = L(1, "a", [2, 3], Point(4).__dict__)
    back = pickle.loads(pickle.dumps(lst))
    assert isinstance(back, L) and back == lst
    assert pickle.loads(pickle.dumps(L())) == []


def test_repr():
    assert repr(L(1, 2, 3, 4, 5)) == "(#5) [1, 2, 3, 4, 5]"
    assert repr(L()) == "(#0) []"
    assert repr(L("a")) == "(#1) ['a']"
    assert repr(L.range(12)) == "(#12) [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...]"
    assert repr(L.range(10)) == "(#10) [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"


# --- subclasses keep their type -----------------------------------------------------------------------


def test_subclass_results_keep_subclass():
    class Names(L):
        pass

    names = Names("b", "a", "b")
    for result in (
        names[0:2],
        names[[0]],
        names.map(str.upper),
        names.filter(None),
        names.unique(),
        names.sorted(),
        names.copy(),
        names + ["c"],
        names.shuffle(),
    ):
        assert type(result) is Names


def test_shuffle_default_uses_the_random_module():
    random.seed(3)
    first_run = L.range(20).shuffle()
    random.seed(3)
    assert L.range(20).shuffle() == first_run
