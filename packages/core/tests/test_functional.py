"""Functional helpers: comparisons, noop, ifnone, is_listy, listify and friends."""

import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lamina.core.basics.collections import L
from lamina.core.basics.functional import (
    ListLike,
    camel2snake,
    eq,
    first,
    ge,
    getattrs,
    gt,
    ifnone,
    is_array_like,
    is_listy,
    le,
    listify,
    lt,
    maybe_attr,
    ne,
    noop,
    noops,
    range_of,
    setify,
    snake2camel,
    tuplify,
)


def test_comparisons_direct():
    assert gt(5, 4) is True and gt(4, 5) is False
    assert ge(4, 4) is True and ge(3, 4) is False
    assert lt(3, 4) is True and lt(4, 4) is False
    assert le(4, 4) is True and le(5, 4) is False
    assert eq("a", "a") is True and eq(1, 2) is False
    assert ne(1, 2) is True and ne(2, 2) is False


def test_comparisons_curried_compare_the_argument_to_the_bound_value():
    assert gt(4)(5) is True and gt(4)(4) is False
    assert ge(4)(4) is True and ge(4)(3) is False
    assert lt(4)(3) is True and lt(4)(5) is False
    assert le(4)(4) is True and le(4)(5) is False
    assert eq(None)(None) is True and eq(0)(None) is False
    assert ne(3)(4) is True
    assert [x for x in range(8) if gt(4)(x)] == [5, 6, 7]


def test_curried_comparison_is_picklable_and_readable():
    f = pickle.loads(pickle.dumps(gt(4)))
    assert f(5) is True and f(3) is False
    assert repr(ge(2.5)) == "ge(2.5)"


def test_curried_comparison_works_on_tensors():
    assert torch.equal(gt(1)(torch.tensor([0, 1, 2])), torch.tensor([False, False, True]))


def test_noop_and_noops():
    assert noop() is None
    sentinel = object()
    assert noop(sentinel, 1, 2, k=3) is sentinel
    assert noops(object(), sentinel, 5, k=1) is sentinel
    assert noops(None) is None


def test_ifnone():
    assert ifnone(None, 3) == 3
    assert ifnone(0, 3) == 0  # only None is replaced, not falsy values
    assert ifnone("", "x") == ""


def test_is_listy():
    assert is_listy([1]) and is_listy((1,)) and is_listy(L(1)) and is_listy(range(2))
    assert is_listy(x for x in range(2))
    for not_listy in ("ab", b"ab", torch.tensor([1, 2]), np.array([1, 2]), 3, None, {1: 2}, {1}):
        assert not is_listy(not_listy), not_listy


def test_listlike_registration_extends_is_listy():
    class Bag:
        pass

    assert not is_listy(Bag())
    ListLike.register(Bag)
    assert is_listy(Bag())


def test_is_array_like():
    assert is_array_like(torch.zeros(2)) and is_array_like(np.zeros(2))
    assert not is_array_like([0.0, 0.0])


def test_listify_basic_cases():
    assert listify() == [] and listify(None) == []
    assert listify("abc") == ["abc"]
    assert listify(b"ab") == [b"ab"]
    assert listify(3) == [3]
    assert listify((1, 2)) == [1, 2]
    assert listify(range(3)) == [0, 1, 2]
    assert listify(x * 2 for x in range(3)) == [0, 2, 4]
    assert listify({"a": 1, "b": 2}) == ["a", "b"]
    assert listify(L(1, 2)) == [1, 2]


def test_listify_returns_a_new_list():
    src = [1, 2]
    out = listify(src)
    out.append(3)
    assert src == [1, 2]


def test_listify_tensors_and_arrays():
    scalar = torch.tensor(5)
    assert listify(scalar)[0] is scalar and len(listify(scalar)) == 1
    rows = listify(torch.arange(6).view(3, 2))
    assert len(rows) == 3 and torch.equal(rows[1], torch.tensor([2, 3]))
    assert listify(np.array([4, 5])) == [4, 5]
    zero_d = np.array(7)
    assert len(listify(zero_d)) == 1 and listify(zero_d)[0] is zero_d


def test_tuplify():
    assert tuplify(None) == ()
    assert tuplify("a") == ("a",)
    assert tuplify([1, 2]) == (1, 2)
    assert tuplify(4) == (4,)


def test_first():
    assert first([3, 4]) == 3
    assert first([]) is None
    assert first(x for x in [5, 6]) == 5
    assert first([1, 5, 7], gt(4)) == 5
    assert first([1, 2], gt(4)) is None
    assert first({"k": 1}) == "k"


def test_first_rejects_non_iterables():
    with pytest.raises(TypeError, match="first.*iterable.*int"):
        first(3)


def test_setify():
    s = {1, 2}
    assert setify(s) is s
    assert setify(None) == set()
    assert setify("ab") == {"ab"}
    assert setify([1, 1, 2]) == {1, 2}
    assert setify(3) == {3}


def test_range_of():
    assert range_of([7, 8, 9]) == [0, 1, 2]
    assert range_of(L()) == []
    assert range_of(4) == [0, 1, 2, 3]
    assert range_of(2, 5) == [2, 3, 4]
    assert range_of(0, 10, 4) == [0, 4, 8]
    assert range_of(np.zeros(3)) == [0, 1, 2]


def test_maybe_attr():
    obj = SimpleNamespace(value=3)
    assert maybe_attr(obj, "value") == 3
    assert maybe_attr(obj, "missing") is obj
    assert maybe_attr(5, "real") == 5


def test_getattrs():
    obj = SimpleNamespace(a=1, b=2)
    assert getattrs(obj, "a", "b") == [1, 2]
    assert getattrs(obj, "a", "zz") == [1, None]
    assert getattrs(obj, "zz", default=0) == [0]


@pytest.mark.parametrize(
    "camel, snake",
    [
        ("TrainEvalCallback", "train_eval_callback"),
        ("Learner", "learner"),
        ("HTTPResponse", "http_response"),
        ("MixedPrecision", "mixed_precision"),
        ("Resnet50Model", "resnet50_model"),
        ("already_snake", "already_snake"),
    ],
)
def test_camel2snake(camel, snake):
    assert camel2snake(camel) == snake


def test_snake2camel():
    assert snake2camel("train_eval_callback") == "TrainEvalCallback"
    assert snake2camel("learner") == "Learner"
    assert snake2camel("to_fp16") == "ToFp16"
    assert snake2camel("keep_HTTP") == "KeepHTTP"  # the rest of each word is kept as written
