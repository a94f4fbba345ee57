"""Recorded constructor arguments, the classes registry, and describing layers as data."""

import copy
import inspect
import json

import pytest
import torch
from torch import nn

from lamina.core import losses
from lamina.core.layers import (
    activations,
    attention,
    basic,
    conv,
    linear,
    merge,
    norm,
    pooling,
    resblock,
    upsample,
)
from lamina.core.layers.activations import Swish
from lamina.core.layers.attention import SelfAttention
from lamina.core.layers.basic import Lambda, View
from lamina.core.layers.conv import ConvLayer
from lamina.core.layers.merge import MergeLayer, SequentialEx
from lamina.core.layers.norm import NormType
from lamina.core.layers.pooling import MaxPool
from lamina.core.layers.recorded import RecordedInit, module_config, module_from_config
from lamina.core.layers.resblock import ResBlock
from lamina.core.layers.upsample import PixelShuffle_ICNR
from lamina.core.plugins import registry

LAYER_MODULES = (
    activations,
    attention,
    basic,
    conv,
    linear,
    merge,
    norm,
    pooling,
    resblock,
    upsample,
    losses,
)


def _public_classes():
    for module in LAYER_MODULES:
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) and obj.__module__ == module.__name__:
                yield name, obj


def test_every_layer_and_loss_class_is_registered_by_its_public_name():
    found = dict(_public_classes())
    assert {"ConvLayer", "ResBlock", "SequentialEx", "NormType", "CrossEntropyLossFlat", "DiceLoss"} <= set(
        found
    )
    for name, cls in found.items():
        if name == "BlockInputLayer":  # an abstract base, never instantiated on its own
            continue
        assert registry.classes[f"lamina.core.{name}"] is cls
        assert registry.classes.name_of(cls) == f"lamina.core.{name}"


def test_init_args_hold_defaults_and_merged_kwargs():
    layer = ConvLayer(3, 8, ks=5, dilation=2)
    args = layer._init_args
    assert args["ni"] == 3 and args["nf"] == 8 and args["ks"] == 5 and args["dilation"] == 2
    assert args["norm_type"] is NormType.Batch and args["act_cls"] is nn.ReLU and args["xtra"] is None
    assert set(inspect.signature(ConvLayer).parameters) - {"kwargs"} <= set(args)


def test_outermost_constructor_wins_and_subclasses_record_themselves():
    class Narrow(ConvLayer):
        def __init__(self, ni: int, scale: int = 2):
            super().__init__(ni, ni * scale, ks=1)

    layer = Narrow(4, scale=3)
    assert layer._init_args == {"ni": 4, "scale": 3}
    rebuilt = type(layer)(**layer._init_args)
    assert rebuilt[0].out_channels == 12
    assert ResBlock(1, 4, 8)._init_args["expansion"] == 1  # inner ConvLayers do not leak into the block


def test_var_positional_args_are_recorded_as_a_tuple():
    assert View(2, -1)._init_args == {"size": (2, -1)}
    block = SequentialEx(nn.Identity(), MergeLayer())
    assert block._init_args["layers"] == tuple(block.layers)


def _same_outputs(a: nn.Module, b: nn.Module, x: torch.Tensor) -> bool:
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    with torch.no_grad():
        return torch.allclose(a(x), b(x), atol=1e-6)


@pytest.mark.parametrize(
    "make, size",
    [
        (lambda: ConvLayer(3, 8, norm_type=NormType.Spectral, xtra=Swish()), (2, 3, 6, 6)),
        (
            lambda: ResBlock(4, 4, 2, stride=2, reduction=2, sa=True, pool=MaxPool, act_cls=nn.Mish),
            (2, 16, 6, 6),
        ),
        (lambda: SequentialEx(ConvLayer(4, 4, act_cls=None), MergeLayer(dense=True)), (2, 4, 5, 5)),
        (lambda: PixelShuffle_ICNR(4, 2, blur=True), (2, 4, 3, 3)),
        (lambda: SelfAttention(8), (2, 8, 3, 3)),
        (lambda: Lambda(torch.tanh), (2, 3)),
        (lambda: View(-1, 4), (2, 3, 4)),
    ],
)
def test_config_is_json_and_rebuilds_an_equivalent_module(make, size):
    original = make()
    config = json.loads(json.dumps(module_config(original)))
    rebuilt = module_from_config(config)
    assert type(rebuilt) is type(original)
    assert rebuilt.state_dict().keys() == original.state_dict().keys()
    assert _same_outputs(original, rebuilt, torch.randn(size))


def test_deepcopy_keeps_recorded_args_and_parametrized_weights():
    original = ResBlock(1, 8, 8, sa=True)
    copied = copy.deepcopy(original)
    assert copied._init_args == original._init_args
    x = torch.randn(2, 8, 3, 3)
    original.eval(), copied.eval()
    assert torch.equal(original(x), copied(x))


def test_loss_config_round_trip_keeps_tensor_arguments():
    loss = losses.CrossEntropyLossFlat(weight=torch.tensor([1.0, 2.0, 0.5]), axis=1, label_smoothing=0.1)
    config = json.loads(json.dumps(module_config(loss)))
    rebuilt = module_from_config(config)
    assert isinstance(rebuilt, losses.CrossEntropyLossFlat) and rebuilt.axis == 1
    pred, targ = torch.randn(4, 3, 5), torch.randint(0, 3, (4, 5))
    assert torch.allclose(rebuilt(pred, targ), loss(pred, targ))


def test_config_errors_name_what_cannot_be_stored():
    with pytest.raises(TypeError, match="Lambda.func is the function .* cannot be named as data"):
        module_config(Lambda(lambda t: t * 2))
    with pytest.raises(TypeError, match="is a Sequential, which does not record its constructor arguments"):
        module_config(SequentialEx(nn.Sequential(nn.ReLU())))
    with pytest.raises(TypeError, match="ConvLayer.xtra is a Dropout, which does not record"):
        module_config(ConvLayer(3, 8, xtra=nn.Dropout(0.1)))

    class Unregistered(RecordedInit, nn.Module):
        pass

    with pytest.raises(TypeError, match="Unregistered, which has no name"):
        module_config(Unregistered())
    with pytest.raises(KeyError, match="no class named 'lamina.core.Nope'"):
        module_from_config({"class": "lamina.core.Nope", "args": {}})
    with pytest.raises(KeyError, match="not a module class of torch.nn"):
        module_from_config({"class": "torch.nn.functional", "args": {}})
    with pytest.raises(KeyError, match="names the function 'torch.load', which is not registered"):
        module_from_config({"class": "lamina.core.Lambda", "args": {"func": {"function": "torch.load"}}})
    with pytest.raises(ValueError, match="not a tagged value"):
        module_from_config({"class": "lamina.core.Flatten", "args": {"full": {"pickle": "..."}}})
