"""Behaviour of `Pipeline` (fastai v2's Pipeline is the reference)."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lamina.core.basics.collections import L
from lamina.core.pipeline import Pipeline, as_transform
from lamina.core.tensors import TensorBase
from lamina.core.transform import DisplayedTransform, ItemTransform, Transform


class AddOne(Transform):
    def encodes(self, x: int):
        return x + 1

    def decodes(self, x: int):
        return x - 1


class Double(Transform):
    order = 5

    def encodes(self, x: int):
        return x * 2

    def decodes(self, x: int):
        return x // 2


class Categorize(Transform):
    """Learns a vocabulary in setup; encodes labels as indices."""

    order = 1

    def setups(self, items):
        self.seen_items = None if items is None else list(items)
        self.vocab = None if items is None else sorted(set(self.seen_items))

    def encodes(self, x: str):
        return self.vocab.index(x)

    def decodes(self, x: int):
        return Label(self.vocab[x])


class Label(str):
    """A decoded label that can show itself."""

    def show(self, ctx=None, **kwargs):
        return (ctx or []) + [f"label:{self}{kwargs.get('suffix', '')}"]


def parent_label(path) -> str:
    return Path(path).parent.name


# ---- building -----------------------------------------------------------------------------------
def test_empty_pipeline_is_the_identity():
    for pipe in (Pipeline(), Pipeline([]), Pipeline(None)):
        x = object()
        assert pipe(x) is x
        assert pipe.decode(x) is x
        assert len(pipe.fs) == 0
        assert repr(pipe) == "Pipeline: (identity)"


def test_accepts_instances_classes_and_functions():
    def triple(x):
        return x * 3

    pipe = Pipeline([AddOne, Double(), triple])
    assert [type(t) for t in pipe.fs] == [AddOne, Transform, Double]  # sorted: orders 0, 0, 5
    assert pipe(1) == ((1 + 1) * 3) * 2
    assert pipe.fs[1].name.endswith("triple")


def test_single_transform_or_function_is_accepted():
    assert Pipeline(AddOne())(1) == 2
    assert Pipeline(lambda x: x + 10)(1) == 11


def test_sorted_by_order_and_stable_for_ties():
    first, second = Transform(lambda x: x + "a", order=2), Transform(lambda x: x + "b", order=2)
    early = Transform(lambda x: x + "0", order=-1)
    pipe = Pipeline([first, second, early])
    assert list(pipe.fs) == [early, first, second]
    assert pipe("") == "0ab"


def test_function_order_attribute_is_used():
    def late(x):
        return x + "L"

    late.order = 9

    def plain(x):
        return x + "p"

    assert Pipeline([late, plain])("") == "pL"


def test_add_resorts_and_sets_up_the_new_transforms():
    pipe = Pipeline([Double])
    cat = Categorize()
    pipe.add(
        [parent_label, cat], items=["a/cat/1.png", "b/dog/2.png"]
    )  # Categorize (order 1) before Double (5)
    assert [type(t) for t in pipe.fs] == [Transform, Categorize, Double]
    assert cat.vocab == ["cat", "dog"]  # setup saw the labels, after the getter
    assert pipe("x/dog/9.jpg") == 2


def test_add_without_items_sets_up_on_none():
    cat = Categorize()
    pipe = Pipeline([AddOne])
    pipe.add(cat)
    assert cat.vocab is None and list(pipe.fs) == [pipe.fs[0], cat]


def test_pipeline_of_a_pipeline_and_nested_pipelines():
    inner = Pipeline([AddOne])
    assert list(Pipeline(inner).fs) == list(inner.fs)
    pipe = Pipeline([inner, Double])
    assert pipe(1) == 4
    assert len(pipe.fs) == 2


def test_fs_is_an_L_and_assignment_converts():
    pipe = Pipeline([AddOne])
    assert isinstance(pipe.fs, L)
    pipe.fs = [Double, AddOne]
    assert [type(t) for t in pipe.fs] == [AddOne, Double]
    assert pipe(1) == 4


def test_getitem_iter_and_repr():
    pipe = Pipeline([AddOne, Double])
    assert isinstance(pipe[0], AddOne) and isinstance(pipe[-1], Double)
    head = pipe[:1]
    assert isinstance(head, Pipeline) and head(1) == 2
    assert [type(t) for t in pipe] == [AddOne, Double]
    assert repr(pipe) == "Pipeline: AddOne -> Double"


def test_bad_items_are_named():
    with pytest.raises(TypeError, match=r"item 1 \(3\)"):
        Pipeline([AddOne, 3])

    class NeedsArgs(Transform):
        def __init__(self, size):
            super().__init__()

    with pytest.raises(TypeError, match="NeedsArgs"):
        Pipeline([NeedsArgs])
    with pytest.raises(TypeError, match="orders must be comparable"):
        Pipeline([Transform(lambda x: x, order="first"), AddOne])


def test_as_transform():
    t = AddOne()
    assert as_transform(t) is t
    assert isinstance(as_transform(AddOne), AddOne)
    assert as_transform(abs)(-2) == 2


# ---- running ------------------------------------------------------------------------------------
def test_call_encodes_in_order_and_decode_reverses():
    pipe = Pipeline([Double, AddOne])  # AddOne (0) then Double (5)
    assert pipe(3) == 8
    assert pipe.decode(8) == 3  # Double.decodes first, then AddOne.decodes


def test_tuples_flow_element_wise_and_item_transforms_see_them_whole():
    class Swap(ItemTransform):
        order = 10

        def encodes(self, x: tuple):
            return x[1], x[0]

        def decodes(self, x: tuple):
            return x[1], x[0]

    pipe = Pipeline([AddOne, Swap])
    assert pipe((1, 10)) == (11, 2)
    assert pipe.decode((11, 2)) == (1, 10)


def test_split_idx_propagates_to_the_transforms():
    train_only = Transform(lambda x: x + 100, split_idx=0)
    valid_only = Transform(lambda x: x + 10, split_idx=1)
    parts = [AddOne, train_only, valid_only]
    assert Pipeline(parts, split_idx=0)(0) == 101
    assert Pipeline(parts, split_idx=1)(0) == 11
    assert Pipeline(parts)(0) == 1
    pipe = Pipeline(parts, split_idx=0)
    pipe.split_idx = 1  # changing it later takes effect
    assert pipe(0) == 11


def test_error_inside_the_pipeline_names_the_transform():
    def explode(x):
        raise ValueError("broken")

    pipe = Pipeline([AddOne, explode])
    with pytest.raises(ValueError, match=r"explode\.encodes failed on an input of type int: broken"):
        pipe(1)


def test_type_retention_through_a_pipeline():
    class TensorImageLike(TensorBase):
        pass

    def to_plain_float(x: torch.Tensor):
        return x.as_subclass(torch.Tensor).float() / 255

    pipe = Pipeline([to_plain_float])
    out = pipe(TensorImageLike(torch.tensor([0, 255], dtype=torch.uint8), path="a.png"))
    assert type(out) is TensorImageLike and out.path == "a.png"
    assert torch.allclose(out.as_subclass(torch.Tensor), torch.tensor([0.0, 1.0]))


# ---- setup --------------------------------------------------------------------------------------
def test_setup_chains_each_transform_after_the_ones_before_it():
    cat = Categorize()
    pipe = Pipeline([cat, parent_label])  # the getter (order 0) runs before Categorize (order 1)
    files = ["data/cat/1.png", "data/dog/2.png", "data/cat/3.png"]
    pipe.setup(files)
    assert cat.seen_items == ["cat", "dog", "cat"]
    assert cat.vocab == ["cat", "dog"]
    assert pipe("x/dog/9.png") == 1
    assert pipe.decode(1) == "dog"


def test_setup_first_transform_sees_raw_items_object():
    seen = []

    class Records(Transform):
        def setups(self, items):
            seen.append(items)

    items = np.arange(6).reshape(3, 2)  # not mapped: passed as it is
    Pipeline([Records]).setup(items)
    assert seen[0] is items
    raw = [1, 2]
    Pipeline([Records]).setup(raw)
    assert seen[1] is raw


def test_setup_reads_an_iterator_once_for_every_step():
    first, second = Categorize(), Categorize()
    second.order = 2
    Pipeline([first, second]).setup(iter(["b", "a"]))
    assert first.vocab == ["a", "b"]
    assert second.seen_items == [1, 0]  # indices produced by the first Categorize


def test_setup_accepts_L_and_tuple_items():
    cat = Categorize()
    Pipeline([parent_label, cat]).setup(L(["p/x/1", "p/y/2"]))
    assert cat.vocab == ["x", "y"]
    cat2 = Categorize()
    Pipeline([parent_label, cat2]).setup(("p/z/1",))
    assert cat2.vocab == ["z"]


def test_setup_view_supports_len_index_and_slices():
    views = []

    class Inspect(Transform):
        order = 3

        def setups(self, items):
            views.append((len(items), items[0], items[-1], items[1:], repr(items)))

    Pipeline([AddOne, Inspect]).setup([1, 2, 3])
    n, first, last, tail, text = views[0]
    assert (n, first, last, tail) == (3, 2, 4, [3, 4])
    assert "AddOne" in text


def test_setup_with_an_object_that_applies_the_pipeline_itself():
    class Dataset:
        """Applies the pipeline to its raw items, as a transformed list would."""

        def __init__(self, items, pipe):
            self.items, self.pipe = items, pipe

        def __iter__(self):
            return (self.pipe(o) for o in self.items)

    cat = Categorize()
    pipe = Pipeline([parent_label, cat, Double])
    pipe.setup(Dataset(["a/u/1", "a/v/2"], pipe))
    assert cat.vocab == ["u", "v"]  # during setup the pipeline held only the getter
    assert len(pipe.fs) == 3
    assert pipe("a/v/5") == 2


def test_setup_without_items_gives_none():
    cat = Categorize()
    Pipeline([cat]).setup()
    assert cat.vocab is None and cat.seen_items is None


def test_setup_train_setup_uses_the_training_subset():
    class Splits(list):
        train = ["b"]

    cat = Categorize()
    Pipeline([cat]).setup(Splits(["a", "b"]), train_setup=True)
    assert cat.vocab == ["b"]


def test_setup_failure_keeps_the_transforms_and_names_the_step():
    class Broken(Transform):
        order = 2

        def setups(self, items):
            raise RuntimeError("no stats")

    pipe = Pipeline([AddOne, Broken, Double])
    with pytest.raises(
        RuntimeError, match=r"Broken\.setups failed on items of type TransformedItems: no stats"
    ):
        pipe.setup([1, 2])
    assert [type(t) for t in pipe.fs] == [AddOne, Broken, Double]


def test_setup_error_in_an_earlier_step_names_that_step():
    def getter(x):
        return x["label"]

    cat = Categorize()
    with pytest.raises(KeyError, match=r"getter\.encodes failed on an input of type dict"):
        Pipeline([getter, cat]).setup([{"label": "a"}, {"name": "b"}])


# ---- show ---------------------------------------------------------------------------------------
def test_decode_not_full_stops_at_a_showable_value():
    calls = []

    class Outer(Transform):
        order = 9

        def decodes(self, x: int):
            calls.append("outer")
            return x

    cat = Categorize()
    pipe = Pipeline([parent_label, cat, Outer])
    pipe.setup(["a/x/1", "a/y/2"])
    out = pipe.decode(1, full=False)
    assert type(out) is Label and out == "y"
    assert calls == ["outer"]  # decoded by Outer and Categorize; parent_label not reached


def test_show_decodes_then_calls_show_with_ctx_and_kwargs():
    cat = Categorize()
    pipe = Pipeline([parent_label, cat])
    pipe.setup(["a/x/1", "a/y/2"])
    assert pipe.show(0, ctx=["start"], suffix="!") == ["start", "label:x!"]


def test_show_on_a_tuple_shows_each_showable_element_in_turn():
    cat = Categorize()
    pipe = Pipeline([cat])
    pipe.setup(["x", "y"])
    assert pipe.show((0, 1)) == ["label:x", "label:y"]


def test_show_without_anything_showable_is_an_error():
    with pytest.raises(TypeError, match="no `show` method"):
        Pipeline([AddOne]).show(3)


# ---- pickling -----------------------------------------------------------------------------------
def test_pipeline_pickles():
    pipe = Pipeline([AddOne, Double], split_idx=1)
    back = pickle.loads(pickle.dumps(pipe))
    assert back(1) == 4 and back.split_idx == 1 and repr(back) == repr(pipe)


# ---- real data ----------------------------------------------------------------------------------
class ToImageTensor(Transform):
    """Open a PNG into a (1, H, W) uint8 semantic tensor."""

    def encodes(self, path: Path):
        with Image.open(path) as img:
            return TensorImagePixels(torch.from_numpy(np.array(img)).unsqueeze(0))


class TensorImagePixels(TensorBase):
    pass


class IntToFloat(DisplayedTransform):
    order = 10

    def __init__(self, div=255.0, **kwargs):
        super().__init__(**kwargs)
        self.div = div

    def encodes(self, x: TensorImagePixels):
        return x.as_subclass(torch.Tensor).float() / self.div

    def decodes(self, x: TensorImagePixels):
        return (x.as_subclass(torch.Tensor) * self.div).round().to(torch.uint8)


class MeanFromItems(DisplayedTransform):
    """Learns the mean pixel of the items it is set up on (which must be float images by then)."""

    order = 20

    def __init__(self, mean=None, **kwargs):
        super().__init__(**kwargs)
        self.mean = mean

    def setups(self, items):
        self.mean = torch.stack([x.as_subclass(torch.Tensor) for x in items]).mean().item()

    def encodes(self, x: TensorImagePixels):
        return x - self.mean

    def decodes(self, x: TensorImagePixels):
        return x + self.mean


def test_real_mnist_pipeline_setup_encode_and_decode(shared_data):
    files = sorted((shared_data / "mnist_tiny" / "train").glob("*/*.png"))[::10]
    assert len(files) >= 40
    image_pipe = Pipeline([MeanFromItems, IntToFloat, ToImageTensor])
    label_pipe = Pipeline([parent_label, Categorize])
    image_pipe.setup(files)
    label_pipe.setup(files)

    mean = image_pipe.fs[-1].mean
    assert 0.05 < mean < 0.3  # MNIST digits: mostly black background, in [0, 1] after IntToFloat
    assert label_pipe.fs[1].vocab == ["3", "7"]
    assert repr(image_pipe) == (
        "Pipeline: ToImageTensor -> IntToFloat -- {'div': 255.0} -> MeanFromItems -- {'mean': "
        + repr(mean)
        + "}"
    )

    x = image_pipe(files[0])
    assert type(x) is TensorImagePixels and x.shape == (1, 28, 28) and x.dtype == torch.float32
    with Image.open(files[0]) as img:
        raw = torch.from_numpy(np.array(img))
    back = image_pipe.decode(x)
    assert type(back) is TensorImagePixels and back.dtype == torch.uint8
    assert torch.equal(back.as_subclass(torch.Tensor)[0], raw)
    assert label_pipe.decode(label_pipe(files[-1])) == files[-1].parent.name
