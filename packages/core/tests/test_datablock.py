"""DataBlock end to end: a domain-free example, the paper's MNIST shape, defaults from blocks, bad input."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from lamina.core.data.block import DataBlock, Getter, merge_tfms
from lamina.core.data.blocks import (
    CategoryBlock,
    MultiCategoryBlock,
    RegressionBlock,
    TransformBlock,
)
from lamina.core.data.getters import ColReader, RegexLabeller, get_files, parent_label
from lamina.core.data.loaders import DataLoaders
from lamina.core.data.show import SampleTable
from lamina.core.data.splitters import (
    ColSplitter,
    GrandparentSplitter,
    IndexSplitter,
    RandomSplitter,
)
from lamina.core.data.tfmd_dl import TfmdDL
from lamina.core.data.transforms import Categorize, Normalize, ToTensor
from lamina.core.losses import BCEWithLogitsLossFlat, CrossEntropyLossFlat, MSELossFlat
from lamina.core.tensors import TensorBase, TensorCategory, TensorMultiCategory
from lamina.core.transform import Transform


def parity(o):
    return "even" if o % 2 == 0 else "odd"


def as_input(o):
    return TensorBase(torch.tensor([float(o)]))


def parity_block(**kwargs):
    return DataBlock(blocks=(TransformBlock, CategoryBlock), get_x=as_input, get_y=parity, **kwargs)


# ---- domain-free example ------------------------------------------------------------------------------
def test_integers_by_parity_datasets():
    dblock = parity_block(splitter=IndexSplitter(range(80, 100)))
    dsets = dblock.datasets(range(100))
    assert len(dsets.train) == 80 and len(dsets.valid) == 20
    x, y = dsets[7]
    assert torch.equal(x, torch.tensor([7.0])) and type(y) is TensorCategory and int(y) == 1
    assert list(dsets.vocab) == ["even", "odd"] and list(dblock.vocab) == ["even", "odd"]
    assert dsets.decode(dsets[4]) == (TensorBase(torch.tensor([4.0])), "even")


def test_integers_by_parity_dataloaders_batch_and_decode():
    dblock = parity_block(splitter=RandomSplitter(seed=1))
    dls = dblock.dataloaders(range(100), bs=10)
    assert isinstance(dls, DataLoaders) and isinstance(dls.train, TfmdDL)
    assert len(dls.train_ds) == 80 and len(dls.valid_ds) == 20
    x, y = dls.valid.one_batch()
    assert type(x) is TensorBase and x.shape == (10, 1)
    assert type(y) is TensorCategory and y.shape == (10,)
    decoded = dls.valid.decode_batch((x, y), max_n=10)
    for (xi, label), value in zip(decoded, x[:, 0].tolist()):
        assert label == parity(int(value)) and float(xi) == value
    assert isinstance(dls.loss_func, CrossEntropyLossFlat)
    assert list(dls.vocab) == ["even", "odd"]
    assert dblock.databunch == dblock.dataloaders  # the paper's name


def test_show_batch_falls_back_to_the_generic_table(capsys):
    dls = parity_block(splitter=IndexSplitter([0, 1, 2, 3])).dataloaders(range(20), bs=4)
    table = dls.valid.show_batch(max_n=4)
    printed = capsys.readouterr().out.splitlines()
    assert isinstance(table, SampleTable) and len(table) == 4
    assert printed[0].split() == ["#", "x", "y"]
    assert [line.split()[1:] for line in printed[1:]] == [["[0.0]", "even"], ["[1.0]", "odd"],
                                                          ["[2.0]", "even"], ["[3.0]", "odd"]]  # fmt: skip


def test_strings_labelled_by_a_regex():
    names = [f"{animal}_{i}.txt" for i in range(6) for animal in ("cat", "dog", "emu")]
    dblock = DataBlock(blocks=(TransformBlock, CategoryBlock), get_y=RegexLabeller(r"^([a-z]+)_"),
                       get_x=lambda o: TensorBase(torch.tensor([len(o)])),
                       splitter=RandomSplitter(valid_pct=1 / 3, seed=0))  # fmt: skip
    dsets = dblock.datasets(names)
    assert list(dsets.vocab) == ["cat", "dog", "emu"]
    assert dsets.decode(dsets[4])[1] == "dog"


def test_a_dataloaders_loss_is_what_a_learner_needs():
    dls = parity_block(splitter=RandomSplitter(seed=0)).dataloaders(range(40), bs=8)
    x, y = dls.train.one_batch()
    logits = torch.zeros(len(y), 2)
    logits[torch.arange(len(y)), y.as_subclass(torch.Tensor)] = 20.0
    assert float(dls.loss_func(logits, y)) < 1e-6
    assert dls.loss_func.decodes(dls.loss_func.activation(logits)).tolist() == y.tolist()


# ---- the paper's MNIST DataBlock on real files ---------------------------------------------------------
def read_png(path):
    """A tiny image reader for the test: 1x28x28 float in [0, 1]."""
    return TensorBase(torch.from_numpy(np.asarray(Image.open(path), dtype=np.float32) / 255.0)[None])


def png_files(path):
    return get_files(path, extensions=".png")


def test_mnist_tiny_paths(shared_data):
    mnist = DataBlock(blocks=(TransformBlock, CategoryBlock), get_items=png_files,
                      splitter=GrandparentSplitter(), get_y=parent_label)  # fmt: skip
    dsets = mnist.datasets(shared_data / "mnist_tiny")
    assert len(dsets.train) == 500 and len(dsets.valid) == 200
    assert list(dsets.vocab) == ["3", "7"]
    path, label = dsets.valid[0]
    assert path.parent.parent.name == "valid" and int(label) == ["3", "7"].index(path.parent.name)


def test_mnist_tiny_images_with_normalize(shared_data):
    mnist = DataBlock(blocks=(TransformBlock, CategoryBlock), get_items=png_files, get_x=read_png,
                      splitter=GrandparentSplitter(), get_y=parent_label, batch_tfms=Normalize())  # fmt: skip
    dls = mnist.dataloaders(shared_data / "mnist_tiny", bs=64)
    x, y = dls.train.one_batch()
    assert x.shape == (64, 1, 28, 28) and type(x) is TensorBase and y.shape == (64,)
    assert (
        abs(float(x.mean())) < 0.2 and abs(float(x.std()) - 1) < 0.2
    )  # normalised with the stats of a batch
    samples = dls.valid.decode_batch(dls.valid.one_batch(), max_n=3)
    for img, label in samples:
        assert float(img.min()) >= -1e-4 and float(img.max()) <= 1 + 1e-4  # back in [0, 1]
        assert label in ("3", "7")
    assert len(dls.train) == 500 // 64 and len(dls.valid) == -(-200 // 64)


# ---- defaults from blocks, transforms, copies ----------------------------------------------------------
class AddOne(Transform):
    order = 3

    def __init__(self, k=1):
        super().__init__()
        self.k = k

    def encodes(self, x: TensorBase):
        return x + self.k


class Tag(Transform):
    order = 1

    def encodes(self, x: TensorBase):
        return x * 10


def test_merge_tfms_one_per_class_later_wins():
    merged = merge_tfms([ToTensor, AddOne(1)], [AddOne(5), Tag])
    assert [type(t) for t in merged] == [ToTensor, AddOne, Tag] and merged[1].k == 5
    assert isinstance(merged[0], ToTensor)  # classes are instantiated
    f = lambda x: x  # noqa: E731
    assert len(merge_tfms([f], [f])) == 1


def test_item_and_batch_tfms_merge_with_block_defaults_and_run_in_order():
    block = TransformBlock(batch_tfms=[AddOne(100)])
    dblock = DataBlock(blocks=(block, CategoryBlock), get_x=as_input, get_y=parity,
                       splitter=IndexSplitter([0, 1]), batch_tfms=[Tag, AddOne(2)])  # fmt: skip
    assert [type(t) for t in dblock.batch_tfms] == [AddOne, Tag]
    dls = dblock.dataloaders(range(10), bs=2)
    x, _ = dls.valid.one_batch()
    assert x[:, 0].tolist() == [0 * 10 + 2, 1 * 10 + 2]  # Tag (order 1) then AddOne(2) (order 3)


def test_new_returns_a_copy_with_other_tfms():
    dblock = parity_block(splitter=IndexSplitter([0, 1]))
    other = dblock.new(batch_tfms=AddOne(7))
    assert len(dblock.batch_tfms) == 0 and [type(t) for t in other.batch_tfms] == [AddOne]
    x, _ = other.dataloaders(range(10), bs=2).valid.one_batch()
    assert x[:, 0].tolist() == [7.0, 8.0]


def test_each_build_uses_fresh_type_transforms():
    dblock = DataBlock(
        blocks=(TransformBlock, CategoryBlock), get_y=lambda s: s[0], splitter=IndexSplitter([0])
    )
    first = dblock.datasets(["a1", "a2", "b3"])
    second = dblock.datasets(["y0", "y2", "z3"])
    assert list(first.vocab) == ["a", "b"] and list(second.vocab) == ["y", "z"]
    assert list(dblock.vocab) == ["y", "z"]  # the last build's
    assert dblock.type_tfms[1][0].vocab is None  # the template itself never learns
    assert dblock.pipelines()[1][0].func is dblock.getters[1]  # user functions are not copied


def test_dls_kwargs_and_dl_type_from_blocks():
    class MyDL(TfmdDL):
        pass

    block = TransformBlock(dl_type=MyDL, dls_kwargs={"bs": 5})
    dblock = DataBlock(
        blocks=(block, CategoryBlock), get_x=as_input, get_y=parity, splitter=IndexSplitter([0])
    )
    dls = dblock.dataloaders(range(21))
    assert type(dls.train) is MyDL and dls.train.bs == 5
    assert dblock.dataloaders(range(21), bs=4).train.bs == 4  # the call wins


def test_getters_alternatives_and_counts():
    dblock = DataBlock(blocks=(TransformBlock, TransformBlock, CategoryBlock), n_inp=2,
                       getters=[as_input, lambda o: TensorBase(torch.tensor([-float(o)])), parity],
                       splitter=IndexSplitter([0]))  # fmt: skip
    x1, x2, y = dblock.datasets(range(4))[3]
    assert float(x1) == 3.0 and float(x2) == -3.0 and int(y) == 1
    with pytest.raises(ValueError, match="get_x has 1 getters for 2 inputs"):
        DataBlock(blocks=(TransformBlock, TransformBlock, CategoryBlock), n_inp=2, get_x=as_input)
    with pytest.raises(ValueError, match="get_y has 2 getters for 1 targets"):
        DataBlock(blocks=(TransformBlock, CategoryBlock), get_y=[parity, parity])
    with pytest.raises(ValueError, match="3 getters for 2 blocks"):
        DataBlock(getters=[None, None, None])
    with pytest.raises(ValueError, match="n_inp=3"):
        DataBlock(n_inp=3)


def test_getter_sees_whole_tuple_items_whatever_its_annotation():
    def first_char(o: str):
        return o[0][0]

    dblock = DataBlock(blocks=(TransformBlock, CategoryBlock), get_x=lambda o: o[1], get_y=first_char,
                       splitter=IndexSplitter([0]))  # fmt: skip
    x, y = dblock.datasets([("blue", 1), ("berry", 2)])[1]
    assert x == 2 and dblock.vocab[int(y)] == "b"
    assert isinstance(dblock.pipelines()[0][0], Getter)


def test_subclass_methods_as_steps():
    class Evens(DataBlock):
        blocks = (TransformBlock, CategoryBlock)

        def get_items(self, n):
            return list(range(n))

        def get_y(self, o):
            return parity(o)

        def splitter(self, items):
            return [i for i in range(len(items)) if i >= 2], [0, 1]

    dsets = Evens().datasets(10)
    assert len(dsets.train) == 8 and list(dsets.vocab) == ["even", "odd"]


def test_blocks_by_registered_name():
    from lamina.core.data import core_plugin
    from lamina.core.plugins import registry
    from lamina.core.plugins.manager import register, reset_plugins

    registered_here = "CategoryBlock" not in registry.blocks
    if registered_here:
        register(core_plugin, "core")
    try:
        dblock = DataBlock(
            blocks=("TransformBlock", "CategoryBlock"), get_y=parity, splitter=IndexSplitter([0])
        )
        assert list(dblock.datasets(range(4)).vocab) == ["even", "odd"]
        with pytest.raises(KeyError, match="CategoryBlok"):
            DataBlock(blocks=("TransformBlock", "CategoryBlok"))
    finally:
        if registered_here:
            reset_plugins()


def test_multi_category_block_from_a_dataframe():
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "tags": ["a b", "b", "c", "a"],
                       "is_valid": [False, False, False, True]})  # fmt: skip
    dblock = DataBlock(blocks=(TransformBlock, MultiCategoryBlock),
                       get_x=lambda r: TensorBase(torch.tensor([r["x"]])),
                       get_y=ColReader("tags", label_delim=" "), splitter=ColSplitter())  # fmt: skip
    dls = dblock.dataloaders(df, bs=2)
    x, y = dls.valid.one_batch()
    assert type(y) is TensorMultiCategory and y.tolist() == [[1.0, 0.0, 0.0]]
    assert list(dls.vocab) == ["a", "b", "c"] and isinstance(dls.loss_func, BCEWithLogitsLossFlat)
    assert list(dls.valid.decode_batch((x, y))[0][1]) == ["a"]


def test_regression_block_end_to_end():
    dblock = DataBlock(blocks=(TransformBlock, RegressionBlock), get_x=as_input, get_y=lambda o: o / 2,
                       splitter=IndexSplitter([0, 1]))  # fmt: skip
    dls = dblock.dataloaders(range(10), bs=2)
    _, y = dls.valid.one_batch()
    assert y.dtype == torch.float32 and y.tolist() == [0.0, 0.5]
    assert isinstance(dls.loss_func, MSELossFlat)


def test_test_dl_applies_getters_and_validation_transforms():
    dls = parity_block(splitter=IndexSplitter([0, 1])).dataloaders(range(10), bs=2)
    (x,) = dls.test_dl([41, 42]).one_batch()
    assert x[:, 0].tolist() == [41.0, 42.0]


# ---- bad input -----------------------------------------------------------------------------------------
def test_empty_source_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no items: the source gave nothing"):
        parity_block().datasets([])
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match=r"no items: get_items \(png_files\)"):
        DataBlock(get_items=png_files).datasets(tmp_path)


def test_a_getter_failing_on_one_item_names_index_value_and_step():
    def fragile(o):
        if o == 13:
            raise ValueError("unlucky")
        return parity(o)

    dblock = DataBlock(blocks=(TransformBlock, CategoryBlock), get_y=fragile, splitter=IndexSplitter([0]))
    with pytest.raises(ValueError) as info:
        dblock.datasets(range(20))
    message = str(info.value)
    assert "item 13 of all items" in message and "value 13" in message and "fragile" in message
    assert "unlucky" in message


def test_a_getter_failing_on_a_validation_item_is_named_at_build_time():
    def fragile(o):
        if o == 15:
            raise ValueError("unlucky")
        return parity(o)

    dblock = DataBlock(
        blocks=(TransformBlock, CategoryBlock), get_y=fragile, splitter=IndexSplitter([14, 15])
    )
    with pytest.raises(
        ValueError, match=r"validation item 1 \(item 15 of all items, value 15\) failed in `.*fragile`"
    ):
        dblock.datasets(range(20))


def test_an_empty_validation_set_warns():
    with pytest.warns(UserWarning, match="validation set.* is empty"):
        parity_block(splitter=RandomSplitter(valid_pct=0)).datasets(range(10))


def test_validation_labels_unseen_in_training_warn_then_raise_when_encoded():
    items = ["a1", "a2", "b1", "c1", "d1"]
    dblock = DataBlock(blocks=(TransformBlock, CategoryBlock), get_y=lambda s: s[0],
                       splitter=IndexSplitter([3, 4]))  # fmt: skip
    with pytest.warns(UserWarning, match=r"2 validation label\(s\) not in the training set: \['c', 'd'\]"):
        dsets = dblock.datasets(items)
    with pytest.raises(KeyError, match=r"label 'c' is not in the vocabulary \['a', 'b'\]"):
        dsets.valid[0]


def test_unseen_validation_labels_map_to_na_with_add_na():
    items = ["a1", "b1", "c1"]
    dblock = DataBlock(blocks=(TransformBlock, CategoryBlock(add_na=True)), get_y=lambda s: s[0],
                       splitter=IndexSplitter([2]))  # fmt: skip
    with pytest.warns(UserWarning, match="encode to '#na#'"):
        dsets = dblock.datasets(items)
    assert int(dsets.valid[0][1]) == 0 and dsets.valid.decode(dsets.valid[0])[1] == "#na#"


def test_bad_blocks_are_named():
    with pytest.raises(TypeError, match="returned int"):
        DataBlock(blocks=(TransformBlock, lambda: 3))
    with pytest.raises(TypeError, match="a block must be"):
        DataBlock(blocks=(TransformBlock, 3))
    with pytest.raises(ValueError, match="list of blocks"):
        DataBlock(blocks=[])


def test_vocab_before_any_build_explains():
    with pytest.raises(AttributeError, match="call datasets"):
        _ = parity_block().vocab
    assert isinstance(parity_block().type_tfms[1][0], Categorize)
