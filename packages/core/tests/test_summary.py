"""DataBlock.summary: every step printed with types and shapes; a failing step named with its item."""

import pytest
import torch

from lamina.core.data.block import DataBlock
from lamina.core.data.blocks import CategoryBlock, TransformBlock
from lamina.core.data.splitters import IndexSplitter
from lamina.core.data.summary import describe
from lamina.core.data.transforms import Normalize
from lamina.core.tensors import TensorBase, TensorCategory
from lamina.core.transform import Transform


def parity(o):
    return "even" if o % 2 == 0 else "odd"


def as_input(o):
    return TensorBase(torch.tensor([float(o)]))


def make_block(get_x=as_input, **kwargs):
    kwargs.setdefault("splitter", IndexSplitter(range(80, 100)))
    return DataBlock(blocks=(TransformBlock, CategoryBlock), get_x=get_x, get_y=parity, **kwargs)


def _lines(capsys):
    return [line.strip() for line in capsys.readouterr().out.splitlines()]


def test_summary_prints_every_step(capsys):
    make_block(batch_tfms=Normalize(axes=(0,))).summary(range(100), bs=4)
    lines = _lines(capsys)
    expected = [
        "DataBlock summary of range(0, 100)",
        "Collected items with the source itself: found 100 items",
        "Split with IndexSplitter: 2 subsets of sizes 80, 20",
        "block 0 (input): Pipeline: as_input",
        "Building one sample from training item 0 (item 0 of all items, value 0)",
        "block 0 (input): starting from int 0",
        "getter `as_input` -> TensorBase shape (1,) float32 = [0.0]",
        "block 1 (target): starting from int 0",
        "getter `parity` -> str 'even'",
        "`Categorize` -> TensorCategory shape () int64 = 0",
        "Final sample: (TensorBase shape (1,) float32 = [0.0], TensorCategory shape () int64 = 0)",
        "Building one batch of 4 training samples",
        "Applying the item transforms (after_item) to the first sample: Pipeline: ToTensor",
        "`ToTensor` -> (TensorBase shape (1,) float32 = [0.0], TensorCategory shape () int64 = 0)",
        "Added the next 3 samples",
        "No before_batch transforms to apply",
        "Collating 4 samples: (TensorBase shape (4, 1) float32 = [[0.0], [1.0], [2.0], [3.0]], "
        "TensorCategory shape (4,) int64 = [0, 1, 0, 1])",
        "Applying the batch transforms (after_batch): Pipeline: Normalize",
    ]
    positions = [lines.index(line) for line in expected]  # each line is there ...
    assert positions == sorted(positions)  # ... in this order
    assert any(line.startswith("block 1 (target): Pipeline: parity -> Categorize") and "vocab ['even', 'odd']"
               in line for line in lines)  # fmt: skip
    normalized = next(line for line in lines if line.startswith("`Normalize` ->"))
    assert "TensorBase shape (4, 1) float32" in normalized
    assert lines[-1].startswith("Final batch: (TensorBase shape (4, 1) float32")


def test_summary_show_batch_uses_the_generic_display(capsys):
    make_block().summary(range(100), bs=2, show_batch=True, max_n=2)
    lines = _lines(capsys)
    assert lines[-3].split() == ["#", "x", "y"] and len(lines[-1].split()) == 3


def test_summary_names_a_failing_getter_with_its_item(capsys):
    def fragile(o):
        if o == 2:
            raise ValueError("cannot read item")
        return as_input(o)

    with pytest.raises(ValueError) as info:
        make_block(get_x=fragile).summary(range(100), bs=4)
    message = str(info.value)
    assert "step 'building the other samples (type and item transforms)'" in message
    assert "training item 2 (item 2 of all items, value 2)" in message and "cannot read item" in message
    assert any(
        line.startswith("FAILED DataBlock.summary: step 'building the other samples")
        for line in _lines(capsys)
    )


class Boom(Transform):
    def encodes(self, x: TensorBase):
        raise RuntimeError("boom")


def test_summary_names_a_failing_item_transform(capsys):
    with pytest.raises(RuntimeError) as info:
        make_block(item_tfms=Boom).summary(range(100))
    message = str(info.value)
    assert (
        "step 'item transforms' failed in `Boom` on training item 0 (item 0 of all items, value 0)" in message
    )
    assert "boom" in message


def test_summary_names_a_failing_batch_transform(capsys):
    with pytest.raises(RuntimeError, match="step 'batch transforms' failed in `Boom` on the collated batch"):
        make_block(batch_tfms=Boom).summary(range(100))
    lines = _lines(capsys)
    assert any(line.startswith("Collating 4 samples:") for line in lines)  # the steps before it ran


def test_summary_names_a_failing_type_transform_at_the_first_sample(capsys):
    class Explode(Transform):
        order = 2

        def encodes(self, x: TensorCategory):
            raise ValueError("bad class index")

    target = TransformBlock(type_tfms=[CategoryBlock().type_tfms[0], Explode])
    block = DataBlock(
        blocks=(TransformBlock, target), get_x=as_input, get_y=parity, splitter=IndexSplitter([0])
    )
    with pytest.raises(ValueError, match="bad class index") as info:
        block.summary(range(10))
    message = str(info.value)
    assert "step 'setting up the type transforms (Datasets)'" in message  # types are found on the first item
    assert "`Explode`" in message and "value 1" in message


def test_summary_names_failing_collection_and_collation(capsys):
    def no_items(source):
        raise OSError(f"cannot list {source}")

    with pytest.raises(OSError, match="step 'collecting items' failed on source 'somewhere': cannot list"):
        DataBlock(get_items=no_items).summary("somewhere")
    with pytest.raises(
        Exception, match="step 'collating' failed on the first 4 samples.*cannot collate items of type"
    ):
        make_block(get_x=lambda o: object()).summary(range(100))


def test_describe_types_and_shapes():
    assert describe(torch.zeros(2, 3)) == "Tensor shape (2, 3) float32"
    assert describe(TensorCategory(1)) == "TensorCategory shape () int64 = 1"
    assert describe((1, "a")) == "(int 1, str 'a')"
    assert describe([torch.zeros(1)] * 6).startswith("list of 6: [Tensor shape (1,) float32")
