"""Behaviour of `TypeDispatch` and `@typedispatch` (dispatch on the first one or two argument types)."""

from __future__ import annotations  # every annotation below is a string: exercises forward-ref resolution

import numbers
from typing import Optional, Union

import pytest

from lamina.core.dispatch import TypeDispatch, dispatcher_for, typedispatch


class Animal:
    pass


class Dog(Animal):
    pass


class Puppy(Dog):
    pass


class Swimmer:
    pass


class Labrador(Dog, Swimmer):
    pass


def test_paper_example_integral_and_int_float():
    @typedispatch
    def f_paper(x: numbers.Integral, y):
        return x + 1

    @typedispatch
    def f_paper(x: int, y: float):  # noqa: F811  (joins the same dispatcher)
        return x + y

    assert f_paper(3, 2.0) == 5.0
    assert f_paper(3, "a") == 4


def test_most_specific_first_argument_wins_by_mro():
    def on_animal(x: Animal):
        return "animal"

    def on_dog(x: Dog):
        return "dog"

    d = TypeDispatch([on_dog, on_animal])
    assert d(Puppy()) == "dog"
    assert d(Dog()) == "dog"
    assert d(Animal()) == "animal"


def test_first_argument_specificity_beats_second():
    d = TypeDispatch()

    def int_any(x: int, y):
        return "int,any"

    def integral_str(x: numbers.Integral, y: str):
        return "integral,str"

    d.add(int_any)
    d.add(integral_str)
    assert d(3, "s") == "int,any"  # int is more specific than Integral, whatever y is


def test_second_argument_most_specific_wins():
    d = TypeDispatch()

    def on_animal(x: int, y: Animal):
        return "animal"

    def on_dog(x: int, y: Dog):
        return "dog"

    d.add(on_animal)
    d.add(on_dog)
    assert d(1, Puppy()) == "dog"
    assert d(1, Animal()) == "animal"
    assert d(1, "no match") == 1  # nothing for (int, str): first argument comes back


def test_unmatched_returns_first_argument_unchanged():
    def only_ints(x: int):
        return x * 10

    d = TypeDispatch(only_ints)
    obj = object()
    assert d(obj) is obj
    assert d(2) == 20


def test_tuple_union_and_pipe_annotations_register_each_type():
    def tup(x: (int, str)):
        return "tuple"

    def uni(x: Union[float, bytes]):  # noqa: UP007
        return "union"

    def pipe(x: list | dict):
        return "pipe"

    def opt(x: Optional[Dog]):  # noqa: UP045
        return "optional"

    d = TypeDispatch([tup, uni, pipe, opt])
    assert [d(1), d("s"), d(1.5), d(b"b"), d([]), d({}), d(Dog()), d(None)] == [
        "tuple",
        "tuple",
        "union",
        "union",
        "pipe",
        "pipe",
        "optional",
        "optional",
    ]


def test_missing_annotation_means_object():
    def anything(x):
        return "any"

    def on_int(x: int):
        return "int"

    d = TypeDispatch([anything, on_int])
    assert d(1) == "int"
    assert d("s") == "any"
    assert d[str] is anything


def test_string_annotations_resolve_in_function_globals():
    def on_dog(x: Dog, y: Animal):  # with `from __future__ import annotations` these are strings
        return "ok"

    assert on_dog.__annotations__["x"] == "Dog"
    d = TypeDispatch(on_dog)
    assert d(Puppy(), Dog()) == "ok"
    assert d[Dog, Animal] is on_dog


def test_unresolvable_string_annotation_is_a_clear_error():
    def broken(x: NoSuchType):  # noqa: F821
        return x

    with pytest.raises(TypeError, match=r"NoSuchType.*parameter `x`.*broken"):
        TypeDispatch(broken)


def test_non_class_annotation_is_a_clear_error():
    def weird(x: 3):
        return x

    with pytest.raises(TypeError, match=r"parameter `x`.*weird.*not a class"):
        TypeDispatch(weird)


def test_function_with_one_parameter_matches_any_second_argument():
    def one(x: int):
        return ("one", x)

    def two(x: int, y: str):
        return ("two", x, y)

    d = TypeDispatch([one, two])
    assert d(1, "s") == ("two", 1, "s")
    assert d[int, float] is one  # any second type falls to the one-parameter function
    assert d[int] is one


def test_with_one_argument_functions_needing_a_typed_second_do_not_match():
    def two(x: int, y: str):
        return "two"

    d = TypeDispatch(two)
    assert d(5) == 5  # no second argument: (int, str) does not apply, so x comes back
    assert d[int] is None


def test_cache_is_used_and_cleared_on_add():
    def on_animal(x: Animal):
        return "animal"

    d = TypeDispatch(on_animal)
    calls = []
    real_lookup = d._lookup

    def counting(t1, t2):
        calls.append((t1, t2))
        return real_lookup(t1, t2)

    d._lookup = counting
    assert d(Puppy()) == "animal"
    assert d(Puppy()) == "animal"
    assert calls == [(Puppy, object)]  # second call served from the cache

    def on_dog(x: Dog):
        return "dog"

    d.add(on_dog)  # must invalidate the cached (Puppy, object) -> on_animal
    assert d(Puppy()) == "dog"
    assert len(calls) == 2


def test_no_positional_parameter_is_a_clear_error():
    def nothing():
        return 1

    def kw_only(*, x: int):
        return x

    with pytest.raises(TypeError, match="nothing.*no positional parameter"):
        TypeDispatch(nothing)
    with pytest.raises(TypeError, match="kw_only.*no positional parameter"):
        TypeDispatch().add(kw_only)


def test_no_argument_call_is_a_clear_error():
    def f_one(x: int):
        return x

    with pytest.raises(TypeError, match="at least one positional argument"):
        TypeDispatch(f_one)()


def test_getitem_returns_the_function_that_would_run():
    def on_int(x: int, y: float):
        return 1

    def on_integral(x: numbers.Integral, y):
        return 2

    d = TypeDispatch([on_int, on_integral])
    assert d[int, float] is on_int
    assert d[int, str] is on_integral
    assert d[bool, str] is on_integral  # bool subclasses int, int's row has no str: Integral row
    assert d[str] is None
    with pytest.raises(TypeError, match="type or a pair of types"):
        d["int"]


def test_repr_lists_one_line_per_signature():
    def on_int(x: int, y: float):
        return 1

    def on_dog(x: Dog):
        return 2

    d = TypeDispatch([on_int, on_dog])
    lines = repr(d).splitlines()
    assert lines[0] == "TypeDispatch on_int:"
    assert "  (int, float) -> on_int" in lines
    assert f"  ({__name__}.Dog, object) -> on_dog" in lines
    assert len(lines) == 3


def test_register_decorator_returns_the_function():
    d = TypeDispatch()

    @d.register
    def on_str(x: str):
        return x.upper()

    assert callable(on_str) and on_str("a") == "A"  # the plain function, still usable directly
    assert d("b") == "B"
    assert len(d) == 1


def test_method_use_skips_self_and_binds_the_instance():
    class Greeter:
        greet = TypeDispatch()
        prefix = "hello"

        @greet.register
        def _greet_int(self, x: int):
            return f"{self.prefix} int {x}"

        @greet.register
        def _greet_pair(self, x: str, y: int):
            return f"{self.prefix} {x}{y}"

    g = Greeter()
    assert g.greet(3) == "hello int 3"
    assert g.greet("a", 2) == "hello a2"
    assert g.greet(1.5) == 1.5  # unmatched: the argument (not self) comes back
    assert Greeter.greet.owner is Greeter and Greeter.greet.name == "greet"
    assert g.greet[int] is Greeter._greet_int


def test_method_dispatcher_calls_plain_functions_without_self():
    def plain(x: float):
        return ("plain", x)

    class Holder:
        run = TypeDispatch(plain)

        @run.register
        def _method(self, x: int):
            return ("method", type(self).__name__, x)

    h = Holder()
    assert h.run(2.5) == ("plain", 2.5)
    assert h.run(2) == ("method", "Holder", 2)


def test_static_method_is_accepted():
    d = TypeDispatch()
    d.add(staticmethod(lambda x: "static"))
    assert d(1) == "static"


def test_bases_are_consulted_when_nothing_matches_and_track_their_additions():
    def base_int(x: int):
        return "base int"

    base = TypeDispatch(base_int)

    def child_str(x: str):
        return "child str"

    child = TypeDispatch(child_str, bases=[base])
    assert child("s") == "child str"
    assert child(1) == "base int"
    assert child(1.5) == 1.5

    def base_float(x: float):
        return "base float"

    base.add(base_float)  # the child cached (float, object) -> no match; the base's add clears it
    assert child(1.5) == "base float"
    assert "falls back on base_int" in repr(child)
    with pytest.raises(TypeError, match="bases"):
        TypeDispatch(bases=[object()])


def test_unrelated_bases_ordered_by_mro():
    def on_dog(x: Dog):
        return "dog"

    def on_swimmer(x: Swimmer):
        return "swimmer"

    d = TypeDispatch([on_swimmer, on_dog])  # registration order does not matter
    assert d(Labrador()) == "dog"  # Dog comes before Swimmer in Labrador's MRO


def test_abc_ranks_after_the_concrete_class_but_before_object():
    def on_object(x: object):
        return "object"

    def on_number(x: numbers.Number):
        return "number"

    def on_int(x: int):
        return "int"

    d = TypeDispatch([on_object, on_number])
    assert d(3) == "number"
    d.add(on_int)
    assert d(3) == "int"
    assert d(2.5) == "number"


def test_keyword_arguments_are_passed_through():
    def scaled(x: int, *, scale: int = 1):
        return x * scale

    d = TypeDispatch(scaled)
    assert d(3, scale=4) == 12


def test_typedispatch_joins_functions_of_the_same_qualname_across_modules():
    kernel_ns: dict = {"__name__": "fake_kernel"}
    exec("def lamina_test_show(x: int):\n    return 'kernel int'\n", kernel_ns)
    plugin_ns: dict = {"__name__": "fake_plugin", "Dog": Dog}
    exec("def lamina_test_show(x: Dog):\n    return 'plugin dog'\n", plugin_ns)

    show = typedispatch(kernel_ns["lamina_test_show"])
    again = typedispatch(plugin_ns["lamina_test_show"])  # a plugin extends the kernel's dispatcher
    assert again is show
    assert dispatcher_for("lamina_test_show") is show
    assert show(1) == "kernel int"
    assert show(Puppy()) == "plugin dog"
    assert dispatcher_for("no_such_dispatcher_name") is None


def test_typedispatch_keeps_separate_qualnames_apart():
    @typedispatch
    def lamina_test_a(x: int):
        return "a"

    @typedispatch
    def lamina_test_b(x: int):
        return "b"

    assert lamina_test_a is not lamina_test_b
    assert (lamina_test_a(1), lamina_test_b(1)) == ("a", "b")


def pickled_on_int(x: int):
    return "int"


def pickled_on_str(x: str):
    return "str"


def test_dispatchers_pickle_and_deepcopy():
    import copy
    import pickle

    base = TypeDispatch(pickled_on_str)
    d = TypeDispatch(pickled_on_int, bases=[base])
    d.name = "named"
    for clone in (pickle.loads(pickle.dumps(d)), copy.deepcopy(d)):
        assert clone is not d and clone.name == "named"
        assert clone(1) == "int" and clone("s") == "str" and clone(1.5) == 1.5

    @typedispatch
    def lamina_test_pickled(x: int):
        return "registered"

    assert pickle.loads(pickle.dumps(lamina_test_pickled)) is lamina_test_pickled


def test_more_specific_abc_wins_whatever_the_registration_order():
    def on_number(x: numbers.Number):
        return "number"

    def on_integral(x: numbers.Integral):
        return "integral"

    d = TypeDispatch([on_number, on_integral])  # both ABCs rank alike for int: subclassing decides
    assert d(3) == "integral"
    assert d(2.5) == "number"
