"""Blocks: TransformBlock and the core blocks (transforms, default losses) and their registration."""

import pytest
import torch

from lamina.core.data import core_plugin
from lamina.core.data.blocks import (
    CategoryBlock,
    MultiCategoryBlock,
    RegressionBlock,
    TransformBlock,
)
from lamina.core.data.tfmd_dl import TfmdDL
from lamina.core.data.transforms import (
    Categorize,
    EncodedMultiCategorize,
    MultiCategorize,
    OneHotEncode,
    RegressionSetup,
    ToTensor,
)
from lamina.core.losses import BCEWithLogitsLossFlat, CrossEntropyLossFlat, MSELossFlat
from lamina.core.plugins import registry
from lamina.core.plugins.manager import plugin_info, register, reset_plugins


def double(x):
    return x * 2


def test_transform_block_holds_its_parts():
    block = TransformBlock(type_tfms=double, item_tfms=[Categorize], batch_tfms=OneHotEncode(3),
                           dl_type=TfmdDL, dls_kwargs={"bs": 8})  # fmt: skip
    assert list(block.type_tfms) == [double]
    assert list(block.item_tfms) == [ToTensor, Categorize]  # ToTensor always comes first
    assert len(block.batch_tfms) == 1 and isinstance(block.batch_tfms[0], OneHotEncode)
    assert block.dl_type is TfmdDL and block.dls_kwargs == {"bs": 8} and block.loss_func is None
    assert "type_tfms=[double]" in repr(block) and "ToTensor" in repr(block)


def test_transform_block_checks_its_arguments():
    with pytest.raises(TypeError, match="dl_type"):
        TransformBlock(dl_type="TfmdDL")
    with pytest.raises(TypeError, match="dls_kwargs"):
        TransformBlock(dls_kwargs=[("bs", 8)])


def test_category_block():
    block = CategoryBlock(vocab=["b", "a"], sort=False, add_na=True)
    (cat,) = block.type_tfms
    assert isinstance(cat, Categorize) and list(cat.vocab) == ["#na#", "b", "a"]
    assert isinstance(block.loss_func, CrossEntropyLossFlat)
    assert CategoryBlock().loss_func is not CategoryBlock().loss_func  # one loss per block


def test_category_block_default_loss_works_on_its_targets():
    block = CategoryBlock()
    cat = block.type_tfms[0]
    cat.setup(["x", "y", "z"])
    targets = torch.stack([cat("z"), cat("x")])
    logits = torch.tensor([[0.0, 0.0, 10.0], [10.0, 0.0, 0.0]])
    assert float(block.loss_func(logits, targets)) < 1e-3


def test_multi_category_block_from_label_lists_and_encoded():
    block = MultiCategoryBlock()
    assert [type(t) for t in block.type_tfms] == [MultiCategorize, OneHotEncode]
    assert isinstance(block.loss_func, BCEWithLogitsLossFlat)
    encoded = MultiCategoryBlock(encoded=True, vocab=["a", "b"])
    assert [type(t) for t in encoded.type_tfms] == [EncodedMultiCategorize]
    assert list(encoded.type_tfms[0].vocab) == ["a", "b"]
    with pytest.raises(ValueError, match="needs the vocab"):
        MultiCategoryBlock(encoded=True)


def test_regression_block():
    block = RegressionBlock(n_out=3)
    (setup,) = block.type_tfms
    assert isinstance(setup, RegressionSetup) and setup.c == 3
    assert isinstance(block.loss_func, MSELossFlat)


@pytest.fixture
def core_registered():
    """The core plugin registered with the plugin manager (as an entry point or built in would)."""
    registered_here = "CategoryBlock" not in registry.blocks
    if registered_here:
        register(core_plugin, "core")
    yield
    if registered_here:
        reset_plugins()


def test_core_plugin_registers_blocks_and_default_losses(core_registered):
    assert registry.blocks["CategoryBlock"] is CategoryBlock
    assert registry.blocks["TransformBlock"] is TransformBlock
    assert registry.blocks["MultiCategoryBlock"] is MultiCategoryBlock
    assert registry.blocks["RegressionBlock"] is RegressionBlock
    assert registry.losses["TensorCategory"] is CrossEntropyLossFlat
    assert registry.losses["TensorMultiCategory"] is BCEWithLogitsLossFlat
    core = next(p for p in plugin_info() if p.name == "core")
    assert set(core.registered["blocks"]) == {"CategoryBlock", "MultiCategoryBlock", "RegressionBlock",
                                              "TransformBlock"}  # fmt: skip


def test_loss_classes_are_in_the_classes_registry():
    assert registry.classes.name_of(CrossEntropyLossFlat) == "lamina.core.CrossEntropyLossFlat"
    assert registry.classes.name_of(BCEWithLogitsLossFlat) == "lamina.core.BCEWithLogitsLossFlat"
    assert registry.classes.name_of(MSELossFlat) == "lamina.core.MSELossFlat"


def test_data_classes_are_in_the_classes_registry_for_export():
    for cls in (Categorize, MultiCategorize, OneHotEncode, EncodedMultiCategorize, RegressionSetup, ToTensor,
                TransformBlock):  # fmt: skip
        assert registry.classes[f"lamina.core.{cls.__name__}"] is cls
