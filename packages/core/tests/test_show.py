"""show_batch / show_results dispatch and generic display, show_title, Titled types, get_grid."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lamina.core.data.show import (  # noqa: E402
    SampleTable,
    TitledFloat,
    TitledInt,
    TitledStr,
    TitledTuple,
    describe_value,
    get_grid,
    show_batch,
    show_results,
    show_title,
)
from lamina.core.dispatch import typedispatch  # noqa: E402
from lamina.core.tensors import TensorBase  # noqa: E402


def test_show_title_on_each_kind_of_context(capsys):
    assert show_title("hello") is None and capsys.readouterr().out == "hello\n"
    row = show_title("a", ctx={}, label="y")
    assert show_title("b", ctx=row, label="y") == {"y": "a", "y_": "b"}
    assert show_title(3, ctx=["x"]) == ["x", "3"]
    series = show_title("cat", ctx=pd.Series({"label": "dog"}), label="label")
    assert series.to_dict() == {"label": "dog", "label_": "cat"}
    fig, ax = plt.subplots()
    assert show_title("first", ax=ax) is ax and show_title("second", ctx=ax) is ax
    assert ax.get_title() == "first\nsecond"
    plt.close(fig)
    with pytest.raises(TypeError, match="cannot show on a context of type int"):
        show_title("x", ctx=5)


def test_titled_values_show_themselves_as_titles():
    assert TitledInt(3).show(ctx={}) == {"text": "3"}
    assert TitledFloat(0.5).show(ctx=[]) == ["0.5"]
    assert TitledStr("a b c").truncate(2) == "a b" and type(TitledStr("x").truncate(1)) is TitledStr
    assert TitledTuple((1, "a")).show(ctx={}, label="t") == {"t": "1 a"}
    assert TitledInt(7) + 1 == 8


def test_describe_value_is_short_and_readable():
    assert describe_value(torch.tensor(2.5)) == "2.5"
    assert describe_value(torch.tensor([1, 2])) == "[1, 2]"
    assert describe_value(TensorBase(torch.zeros(3, 4, 5))) == "TensorBase[3x4x5] float32"
    assert describe_value("a\n  b") == "a b"
    long = describe_value("x" * 100, width=10)
    assert long == "xxxxxxx..." and len(long) == 10


def test_generic_show_batch_prints_and_returns_a_table(capsys):
    samples = [(1, "odd"), (2, "even"), (3, "odd")]
    table = show_batch(torch.tensor([1, 2, 3]), torch.tensor([1, 0, 1]), samples, max_n=2)
    assert isinstance(table, SampleTable) and table.columns == ["x", "y"] and len(table) == 2
    assert capsys.readouterr().out.splitlines() == ["#  x  y", "0  1  odd", "1  2  even"]


def test_generic_show_batch_names_several_inputs_and_missing_targets():
    several = show_batch((torch.zeros(2), torch.zeros(2)), None, [(1, 2), (3, 4)])
    assert several.columns == ["x0", "x1"] and several.rows == [["1", "2"], ["3", "4"]]
    cut = show_batch(torch.zeros(1), torch.zeros(1), [("y" * 80, 1)], width=12)
    assert cut.rows == [["yyyyyyyyy...", "1"]]


def test_generic_show_results_adds_predictions(capsys):
    table = show_results(torch.zeros(2), torch.zeros(2), [(1, "odd"), (2, "even")], [("even",), ("even",)])
    assert table.columns == ["x", "y", "pred"] and table.rows[0] == ["1", "odd", "even"]
    assert "pred" in capsys.readouterr().out


def test_generic_show_uses_contexts_when_given():
    rows = show_batch(None, None, [(TitledInt(1), TitledStr("odd")), (TitledInt(2), "even")], ctxs=[{}, {}])
    assert rows == [{"text": "1", "text_": "odd"}, {"text": "2", "title": "even"}]
    out = show_results(None, None, [(TitledInt(1),)], [(TitledStr("p"),)], ctxs=[{}])
    assert out == [{"text": "1", "text_": "p"}]
    with pytest.raises(ValueError, match="1 contexts for 2 samples"):
        show_batch(None, None, [(TitledInt(1),), (TitledInt(2),)], ctxs=[{}])


def test_a_whole_batch_that_shows_itself_is_shown():
    class Figure:
        def show(self, ctx=None, **kwargs):
            return ("figure", ctx, kwargs)

    assert show_batch(Figure(), None, None, ctxs="ax", size=2) == ("figure", "ax", {"size": 2})


def test_values_that_need_a_figure_are_shown_on_contexts():
    class Picture:
        def __init__(self, name):
            self.name = name

        def show(self, ctx=None, **kwargs):
            return (ctx or []) + [f"picture {self.name}"]

    shown = show_batch(None, None, [(Picture("a"), "cat"), (Picture("b"), "dog")])
    assert shown == [["picture a", "cat"], ["picture b", "dog"]]


class Tagged(TensorBase):
    """A tensor type with its own show_batch in this test (as a plugin would register)."""


@typedispatch
def show_batch(x: Tagged, y, samples, ctxs=None, max_n=9, **kwargs):  # noqa: F811
    return f"tagged figure of {min(len(samples), max_n)} samples"


def test_a_registered_type_gets_its_own_show_batch():
    assert show_batch(Tagged(torch.zeros(2)), None, [(1,), (2,)]) == "tagged figure of 2 samples"
    assert isinstance(show_batch(torch.zeros(2), None, [(1,), (2,)]), SampleTable)


def test_get_grid_gives_n_axes():
    axs = get_grid(5, title="five")
    assert len(axs) == 5 and all(hasattr(ax, "set_title") for ax in axs)
    fig, double = get_grid(2, nrows=1, double=True, return_fig=True)
    assert len(double) == 4 and fig.get_suptitle() == ""
    plt.close("all")
    with pytest.raises(ValueError, match="positive int"):
        get_grid(0)
