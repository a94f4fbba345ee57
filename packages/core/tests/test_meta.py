"""delegates, patch, patch_to, funcs_kwargs."""

import inspect

import pytest

from lamina.core.basics.meta import delegates, funcs_kwargs, patch, patch_to


def base(a, b=1, c="x", *, d=None):
    return a, b, c, d


def test_delegates_shows_defaults_of_target():
    @delegates(base)
    def f(x, b=2, **kwargs):
        return base(x, b=b, **kwargs)

    sig = inspect.signature(f)
    assert list(sig.parameters) == ["x", "b", "c", "d"]
    assert sig.parameters["b"].default == 2  # our own default wins
    assert sig.parameters["c"].default == "x"
    assert f(0, c="y") == (0, 2, "y", None)


def test_delegates_keep_and_but():
    @delegates(base, keep=True, but=["d"])
    def f(**kwargs):
        return kwargs

    params = inspect.signature(f).parameters
    assert "d" not in params and "c" in params and "kwargs" in params


def test_delegates_class_to_base_init():
    class Base:
        def __init__(self, size=3, flag=False):
            self.size, self.flag = size, flag

    @delegates()
    class Child(Base):
        def __init__(self, name="c", **kwargs):
            super().__init__(**kwargs)
            self.name = name

    assert list(inspect.signature(Child).parameters) == ["name", "size", "flag"]
    assert Child(size=5).size == 5


def test_delegates_needs_kwargs():
    with pytest.raises(TypeError, match="must take \\*\\*kwargs"):
        @delegates(base)
        def f(x):
            return x


class A:
    pass


class B:
    pass


def test_patch_single_union_tuple_and_property():
    @patch
    def double(self: A, x):
        return 2 * x

    @patch
    def who(self: A | B):
        return type(self).__name__

    @patch(as_prop=True)
    def answer(self: (A, B)):
        return 42

    assert A().double(4) == 8
    assert A().who() == "A" and B().who() == "B"
    assert A().answer == 42 and B().answer == 42
    assert A.double.__qualname__ == "A.double"


def test_patch_to_and_missing_annotation():
    @patch_to(B)
    def hello(self):
        return "hi"

    assert B().hello() == "hi"
    with pytest.raises(TypeError, match="annotate the first argument"):
        @patch
        def bad(self, x):
            return x


@funcs_kwargs
class Loader:
    _methods = ["get", "post"]

    def __init__(self, scale=1, **kwargs):
        self.scale = scale

    def get(self, x):
        return x * self.scale

    def post(self, x):
        return x


def test_funcs_kwargs_keyword_replaces_method():
    assert Loader(scale=2).get(3) == 6
    assert Loader(get=lambda x: -x).get(3) == -3
    assert "get" in inspect.signature(Loader).parameters


def test_funcs_kwargs_subclass_override_and_as_method():
    class Sub(Loader):
        def post(self, x):
            return x + 1

    assert Sub().post(1) == 2

    @funcs_kwargs(as_method=True)
    class Bound:
        _methods = ["f"]

        def __init__(self, **kwargs):
            self.k = 10

        def f(self):
            return 0

    assert Bound(f=lambda self: self.k).f() == 10


def test_funcs_kwargs_rejects_non_callable():
    with pytest.raises(TypeError, match="get=...\\) expects a callable"):
        Loader(get=3)
