"""Behaviour of `Transform` and its variants (fastai v2's Transform is the reference)."""

import pickle
from collections import namedtuple

import pytest
import torch

from lamina.core.tensors import TensorBase
from lamina.core.transform import (
    DisplayedTransform,
    InplaceTransform,
    ItemTransform,
    Transform,
    TransformError,
)


class TensorImageLike(TensorBase):
    """A semantic tensor for the type-retention tests."""


class TensorMaskLike(TensorBase):
    pass


class Pair(tuple):
    """A tuple subclass (like fastai's fastuple) built from one iterable."""


Point = namedtuple("Point", "x y")


class Scale(Transform):
    """Two encodes and a decodes in one class body."""

    def encodes(self, x: int):
        return x * 10

    def encodes(self, x: str):  # noqa: F811 - the second definition registers too
        return x + "!"

    def decodes(self, x: int):
        return x // 10


class PicklableAdd(Transform):
    def __init__(self, n: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.n = n

    def encodes(self, x: int):
        return x + self.n


def negate(x: int):
    return -x


# ---- cases --------------------------------------------------------------------------------------
def test_several_encodes_in_one_class_body_all_register():
    t = Scale()
    assert t(2) == 20
    assert t("hi") == "hi!"
    assert t.decode(20) == 2


def test_input_without_a_case_is_returned_unchanged():
    t = Scale()
    value = [1, 2]
    assert t(value) is value
    assert t(2.5) == 2.5
    assert t.decode("x") == "x"  # no decodes for str


def test_most_specific_case_wins():
    class Kind(Transform):
        def encodes(self, x: object):
            return "object"

        def encodes(self, x: int):  # noqa: F811
            return "int"

    assert Kind()(3) == "int"
    assert Kind()(True) == "int"  # bool is an int
    assert Kind()(2.0) == "object"


def test_union_annotation_registers_each_type():
    class Twice(Transform):
        def encodes(self, x: int | float):
            return x * 2

    assert Twice()(2) == 4
    assert Twice()(1.5) == 3.0
    assert Twice()("a") == "a"


def test_add_a_case_later_with_the_class_decorator():
    class Later(Transform):
        def encodes(self, x: int):
            return x + 1

    t = Later()
    assert t(1.5) == 1.5  # before: no case, and the miss is cached

    @Later.encodes
    def encodes(self, x: float):
        return x * 2

    assert encodes.__name__ == "encodes"  # the decorator returns the function
    assert t(1.5) == 3.0  # existing instances see the new case
    assert t(1) == 2

    @Later.decodes
    def decodes(self, x: int):
        return x - 1

    assert t.decode(2) == 1


def test_subclass_inherits_cases_and_overrides_per_type():
    class Base(Transform):
        def encodes(self, x: int):
            return "base-int"

        def encodes(self, x: str):  # noqa: F811
            return "base-str"

    class Child(Base):
        def encodes(self, x: int):
            return "child-int"

    c = Child()
    assert c(1) == "child-int"
    assert c("s") == "base-str"
    assert Base()(1) == "base-int"
    assert c(1.0) == 1.0  # no case yet (and that answer is cached)

    @Base.encodes
    def encodes(self, x: float):
        return "base-float"

    assert c(1.0) == "base-float"  # a case added to the base later reaches the subclass


def test_class_decorator_rejects_being_called_with_a_value():
    with pytest.raises(TypeError, match="decorator"):
        Scale.encodes(1, 2)
    with pytest.raises(TypeError, match="decorator"):
        Scale.encodes(3)


def test_instance_attribute_runs_the_case_alone():
    t = Scale()
    assert t.encodes(3) == 30
    assert t.decodes(30) == 3


def test_keyword_arguments_reach_the_case():
    class Mul(Transform):
        def encodes(self, x: int, factor=2):  # extra parameters: unannotated (or keyword-only)
            return x * factor

        def decodes(self, x: int, *, factor: int = 2):
            return x // factor

    assert Mul()(3) == 6
    assert Mul()(3, factor=5) == 15
    assert Mul().decode(15, factor=5) == 3


def test_non_function_case_in_class_body_is_an_error():
    with pytest.raises(TypeError, match="encodes"):

        class Bad(Transform):
            encodes = 3


# ---- from functions -----------------------------------------------------------------------------
def test_transform_from_functions():
    t = Transform(enc=lambda x: x + 1, dec=lambda x: x - 1)
    assert t(1) == 2
    assert t.decode(2) == 1
    assert t((1, 2)) == (2, 3)


def test_transform_from_function_uses_its_annotation_name_and_order():
    def double(x: int):
        return x * 2

    double.order = 7
    t = Transform(double)
    assert t(3) == 6
    assert t("a") == "a"  # annotated int: str is not handled
    assert t.name.endswith("double")
    assert t.input_types == (int,)
    assert t.order == 7
    assert t.decode(6) == 6  # no dec: identity


def test_explicit_order_beats_the_function_attribute():
    def f(x):
        return x

    f.order = 7
    assert Transform(f, order=2).order == 2


def test_bad_constructor_arguments():
    with pytest.raises(TypeError, match="enc"):
        Transform(enc=3)
    with pytest.raises(TypeError, match="dec"):
        Transform(dec="nope")
    with pytest.raises(TypeError, match="split_idx"):
        Transform(lambda x: x, split_idx="train")
    with pytest.raises(TypeError, match="enc=..."):
        Transform(enc=lambda: 1)  # nothing to dispatch on


# ---- attributes ---------------------------------------------------------------------------------
def test_order_class_attribute_and_instance_override():
    class Late(Transform):
        order = 10

    assert Late().order == 10
    assert Late(order=3).order == 3
    assert Late().order == 10
    assert Transform().order == 0


def test_name_defaults_to_class_and_can_be_set():
    t = Scale()
    assert t.name == "Scale"
    t.name = "scaler"
    assert t.name == "scaler"
    assert Scale().name == "Scale"


def test_input_types_lists_types_with_an_encodes_case():
    assert set(Scale().input_types) == {int, str}
    assert Transform().input_types is None
    t = Transform()
    t.input_types = str
    assert t.input_types == (str,)


def test_staticmethod_case_is_called_without_self():
    class Static(Transform):
        @staticmethod
        def encodes(x: int):
            return x + 100

    assert Static()(1) == 101


def test_repr_shows_name_and_cases():
    text = repr(Scale())
    assert text.startswith("Scale:")
    assert "encodes: int -> encodes, str -> encodes" in text
    assert "decodes: int -> decodes" in text


# ---- split_idx ----------------------------------------------------------------------------------
def test_split_idx_gates_encoding_and_decoding():
    train_only = Transform(lambda x: x + 1, lambda x: x - 1, split_idx=0)
    assert train_only(1, split_idx=0) == 2
    assert train_only(1, split_idx=1) == 1
    assert train_only(1) == 1  # called without a split: a restricted transform does not run
    assert train_only.decode(2, split_idx=0) == 1
    assert train_only.decode(2, split_idx=1) == 2

    always = Transform(lambda x: x + 1)
    assert always(1, split_idx=0) == always(1, split_idx=1) == always(1) == 2


def test_split_idx_as_class_attribute():
    class ValidOnly(Transform):
        split_idx = 1

        def encodes(self, x: int):
            return 0

    assert ValidOnly()(5, split_idx=1) == 0
    assert ValidOnly()(5, split_idx=0) == 5


# ---- tuples -------------------------------------------------------------------------------------
def test_tuple_is_transformed_element_wise():
    t = Scale()
    assert t((1, "a", 2.5)) == (10, "a!", 2.5)
    assert t(((1, 2), 3)) == ((10, 20), 30)  # nested tuples too
    assert t.decode((10, 20)) == (1, 2)


def test_tuple_subclass_keeps_its_type():
    out = Scale()(Pair([1, 2]))
    assert type(out) is Pair and out == (10, 20)


def test_namedtuple_is_one_item():
    class OnPoint(Transform):
        def encodes(self, p: Point):
            return p.x + p.y

    assert OnPoint()(Point(1, 2)) == 3
    assert Scale()(Point(1, 2)) == Point(1, 2)  # no case for Point: unchanged, not element-wise


def test_list_is_one_item():
    class Length(Transform):
        def encodes(self, x: list):
            return len(x)

    assert Length()([1, 2, 3]) == 3


def test_item_transform_sees_the_whole_tuple():
    class Swap(ItemTransform):
        def encodes(self, x: tuple):
            return (x[1], x[0])

        def decodes(self, x: tuple):
            return [x[1], x[0]]  # a list comes back as a tuple

    t = Swap()
    assert t((1, 2)) == (2, 1)
    back = t.decode((2, 1))
    assert type(back) is tuple and back == (1, 2)
    out = t(Pair([1, 2]))
    assert type(out) is Pair and out == (2, 1)


def test_item_transform_unannotated_case_gets_tuple_and_single_items():
    seen = []

    class Record(ItemTransform):
        def encodes(self, x):
            seen.append(x)
            return x

    Record()((1, "a"))
    Record()(5)
    assert seen == [(1, "a"), 5]


# ---- type retention -----------------------------------------------------------------------------
def test_plain_tensor_result_gets_the_input_subclass_and_metadata():
    class Double(Transform):
        def encodes(self, x: torch.Tensor):
            return x.as_subclass(torch.Tensor) * 2

        def decodes(self, x: torch.Tensor):
            return x.as_subclass(torch.Tensor) / 2

    img = TensorImageLike(torch.ones(3), source="a.png")
    out = Double()(img)
    assert type(out) is TensorImageLike
    assert out.source == "a.png"
    assert torch.equal(out.as_subclass(torch.Tensor), torch.full((3,), 2.0))
    back = Double().decode(out)
    assert type(back) is TensorImageLike and torch.equal(back.as_subclass(torch.Tensor), torch.ones(3))
    plain = Double()(torch.ones(3))
    assert type(plain) is torch.Tensor


def test_return_annotation_casts_to_that_type():
    class ToMask(Transform):
        def encodes(self, x: torch.Tensor) -> TensorMaskLike:
            return x.as_subclass(torch.Tensor) > 0

    out = ToMask()(TensorImageLike(torch.tensor([1.0, -1.0])))
    assert type(out) is TensorMaskLike
    assert ToMask()(torch.tensor([1.0])).__class__ is TensorMaskLike


def test_return_annotation_none_turns_the_cast_off():
    class Plain(Transform):
        def encodes(self, x: torch.Tensor) -> None:
            return x.as_subclass(torch.Tensor) + 1

    assert type(Plain()(TensorImageLike(torch.ones(2)))) is torch.Tensor


def test_more_specific_result_is_not_downcast():
    class Specialise(Transform):
        def encodes(self, x: TensorBase):
            return TensorMaskLike(x.as_subclass(torch.Tensor))

    assert type(Specialise()(TensorImageLike(torch.ones(2)))) is TensorMaskLike


def test_elements_of_a_tuple_keep_their_own_types():
    class Plainify(Transform):
        def encodes(self, x: torch.Tensor):
            return x.as_subclass(torch.Tensor) + 0

    img, mask = Plainify()((TensorImageLike(torch.ones(2)), TensorMaskLike(torch.zeros(2))))
    assert type(img) is TensorImageLike and type(mask) is TensorMaskLike


# ---- variants -----------------------------------------------------------------------------------
def test_inplace_transform_returns_its_input():
    class AppendOne(InplaceTransform):
        def encodes(self, x: list):
            x.append(1)
            return "ignored"

    items = [0]
    out = AppendOne()(items)
    assert out is items and items == [0, 1]


def test_displayed_transform_repr_shows_stored_attributes():
    class Normalize(DisplayedTransform):
        def __init__(self, mean=None, std=None, axes=(0, 2), **kwargs):
            super().__init__(**kwargs)
            self.mean, self.std, self.axes = mean, std, axes

        def setups(self, items):
            self.mean = sum(items) / len(items)

    t = Normalize(std=2.0, order=3)
    assert t.name == "Normalize -- {'mean': None, 'std': 2.0, 'axes': (0, 2)}"
    assert repr(t).startswith("Normalize -- {'mean': None")
    t.setup([1.0, 3.0])
    assert "'mean': 2.0" in t.name  # current values, after setup


# ---- setup --------------------------------------------------------------------------------------
class Vocab(Transform):
    def setups(self, items):
        self.vocab = sorted(set(items))

    def encodes(self, x: str):
        return self.vocab.index(x)

    def decodes(self, x: int):
        return self.vocab[x]


class Splits(list):
    """Items with a `.train` subset, like a split dataset."""

    train = ["b", "a"]


def test_setup_calls_setups_with_the_items():
    t = Vocab()
    t.setup(["b", "c", "a", "b"])
    assert t.vocab == ["a", "b", "c"]
    assert t("c") == 2 and t.decode(2) == "c"


def test_setup_default_does_nothing_and_accepts_none():
    t = Scale()
    assert t.setup() is None
    assert t.setup([1, 2]) is None


def test_train_setup_uses_the_training_items():
    t = Vocab()
    t.setup(Splits(["a", "b", "z"]), train_setup=True)
    assert t.vocab == ["a", "b"]
    t.setup(Splits(["a", "b", "z"]), train_setup=False)
    assert t.vocab == ["a", "b", "z"]


def test_train_setup_attribute_overrides_the_argument():
    class TrainOnlyVocab(Vocab):
        train_setup = True

    t = TrainOnlyVocab()
    t.setup(Splits(["a", "b", "z"]), train_setup=False)
    assert t.vocab == ["a", "b"]


# ---- errors -------------------------------------------------------------------------------------
class Fails(Transform):
    def encodes(self, x: int):
        raise ValueError("bad value")

    def decodes(self, x: int):
        return {}[x]

    def setups(self, items):
        raise ValueError("cannot learn")


def test_error_in_encodes_names_transform_and_input_type():
    with pytest.raises(ValueError, match=r"Fails\.encodes failed on an input of type int: bad value") as info:
        Fails()(3)
    cause = info.value.__cause__
    assert isinstance(cause, ValueError) and str(cause) == "bad value"


def test_error_in_tuple_element_names_the_element_type():
    with pytest.raises(ValueError, match="input of type int"):
        Fails()(("fine", 3))


def test_error_in_decodes_and_setups_is_named_too():
    with pytest.raises(KeyError, match=r"Fails\.decodes failed on an input of type int") as info:
        Fails().decode(4)
    assert isinstance(info.value.__cause__, KeyError)
    with pytest.raises(ValueError, match=r"Fails\.setups failed on items of type list: cannot learn"):
        Fails().setup([1])


def test_error_in_function_transform_names_the_function():
    def explode(x):
        raise ZeroDivisionError("no")

    with pytest.raises(ZeroDivisionError, match="explode.encodes failed on an input of type str"):
        Transform(explode)("a")


def test_exception_class_that_cannot_take_a_message_becomes_transform_error():
    class CodedError(Exception):
        def __init__(self, code: int, detail: str):
            super().__init__(code, detail)

    class Raises(Transform):
        def encodes(self, x: int):
            raise CodedError(7, "detail")

    with pytest.raises(
        TransformError, match=r"Raises\.encodes failed on an input of type int: CodedError"
    ) as info:
        Raises()(1)
    assert isinstance(info.value.__cause__, CodedError)


# ---- pickling -----------------------------------------------------------------------------------
def test_class_and_function_transforms_pickle():
    t = pickle.loads(pickle.dumps(PicklableAdd(n=5, split_idx=0)))
    assert t(1, split_idx=0) == 6 and t.split_idx == 0
    f = pickle.loads(pickle.dumps(Transform(negate)))
    assert f(3) == -3
