"""Architecture metadata, `create_body` (cut, first-conv adaptation) and `create_vision_model`."""

import json

import pytest
import torch
from torch import nn

from lamina.core.data.download import file_digest
from lamina.core.layers.basic import SigmoidRange
from lamina.core.layers.recorded import module_config, module_from_config
from lamina.core.plugins.specs import ArchitectureSpec
from lamina.vision.arch_meta import (
    VisionBody,
    adapt_first_conv,
    arch_meta,
    architecture_specs,
    create_body,
    create_vision_model,
    default_split,
    imagenet_stats,
    model_meta,
    resnet_split,
    xresnet_split,
)
from lamina.vision.models.resnet import resnet18, resnet50
from lamina.vision.models.weights import PRETRAINED_WEIGHTS, WeightsFile
from lamina.vision.models.xresnet import xresnet18, xresnet50


@pytest.fixture(autouse=True, scope="module")
def native_cpu_convolutions():
    """oneDNN builds a kernel for each new convolution shape (slow on a small CPU); see test_unet.py."""
    enabled = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    yield
    torch.backends.mkldnn.enabled = enabled


@pytest.fixture
def cached_resnet18(tmp_path, monkeypatch):
    """Pretrained resnet18 weights (random values) placed in the cache; the download url is unusable."""
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path))
    torch.manual_seed(1)
    state = resnet18().state_dict()
    (tmp_path / "models").mkdir()
    path = tmp_path / "models" / "resnet18-cached.pth"
    torch.save(state, path)
    spec = WeightsFile("resnet18", "http://127.0.0.1:9/resnet18-cached.pth", sha256=file_digest(path))
    monkeypatch.setitem(PRETRAINED_WEIGHTS, "resnet18", spec)
    return state


def n_params(groups):
    return sum(p.numel() for g in groups for p in g)


def test_metadata_for_each_architecture():
    assert imagenet_stats == ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    assert arch_meta(resnet18).cut == -2 and arch_meta(resnet50).split is resnet_split
    assert arch_meta(xresnet50).cut == -4 and arch_meta(xresnet18).split is xresnet_split
    assert arch_meta(resnet18).stats == imagenet_stats
    assert arch_meta(resnet18()).cut == -2  # a built model is recognised by its class
    unknown = arch_meta(lambda pretrained: nn.Linear(1, 1))
    assert unknown.cut is None and unknown.split is default_split and unknown.stats is None


def test_architecture_specs_for_the_plugin():
    specs = architecture_specs()
    assert len(specs) == len(model_meta) == 9 + 30
    spec = specs["resnet34"]
    assert isinstance(spec, ArchitectureSpec) and spec.cut == -2 and spec.split is resnet_split
    assert specs["xse_resnext50"].cut == -4 and specs["xresnet18"].factory is xresnet18
    assert specs["resnet50"].stats == imagenet_stats


def test_create_body_cuts_a_resnet_before_pool_and_fc():
    body = create_body(resnet18, pretrained=False)
    assert isinstance(body, VisionBody) and len(body) == 8
    assert [type(m).__name__ for m in body][:4] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    with torch.no_grad():
        assert body.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 512, 2, 2)


def test_create_body_cuts_an_xresnet_before_its_head():
    body = create_body(xresnet18, pretrained=False)
    assert len(body) == 8 and isinstance(body[-1], nn.Sequential)


def test_default_cut_and_custom_cuts():
    def arch(pretrained=False):
        return nn.Sequential(
            nn.Conv2d(3, 4, 3), nn.MaxPool2d(2), nn.Conv2d(4, 4, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )

    assert len(create_body(arch, pretrained=False)) == 3  # up to the last child holding a pooling layer
    assert len(create_body(arch, pretrained=False, cut=1)) == 1
    picked = create_body(arch, pretrained=False, cut=lambda m: m[2])
    assert len(picked) == 1 and isinstance(picked[0], nn.Conv2d)
    with pytest.raises(ValueError, match="no child holds a pooling layer"):
        create_body(lambda pretrained: nn.Sequential(nn.Conv2d(3, 3, 1)), pretrained=False)
    with pytest.raises(TypeError, match="expected an architecture"):
        create_body("resnet18")


def test_create_body_loads_pretrained_weights(cached_resnet18):
    body = create_body(resnet18)
    assert torch.equal(body[0].weight, cached_resnet18["conv1.weight"])
    assert torch.equal(body[7][1].bn2.running_var, cached_resnet18["layer4.1.bn2.running_var"])


def test_one_channel_body_sums_the_pretrained_kernel(cached_resnet18):
    body = create_body(resnet18, n_in=1)
    old = cached_resnet18["conv1.weight"]
    assert body[0].weight.shape == (64, 1, 7, 7)
    assert torch.allclose(body[0].weight, old.sum(dim=1, keepdim=True))


def test_adapted_first_conv_keeps_the_response_to_grey_images():
    torch.manual_seed(0)
    for n_in in (1, 2, 4, 6):
        model = nn.Sequential(nn.Conv2d(3, 5, 3, bias=True))
        grey3 = torch.rand(1, 1, 8, 8).expand(1, 3, 8, 8)
        expected = model(grey3)
        adapt_first_conv(model, n_in, pretrained=True)
        assert model[0].in_channels == n_in
        assert torch.allclose(model(grey3[:, :1].expand(1, n_in, 8, 8)), expected, atol=1e-5), n_in
    model = nn.Sequential(nn.Conv2d(3, 5, 3))
    w = model[0].weight.detach().clone()
    adapt_first_conv(model, 2)  # fold: channel 2 joins channel 0
    assert torch.allclose(model[0].weight[:, 0], w[:, 0] + w[:, 2]) and torch.equal(
        model[0].weight[:, 1], w[:, 1]
    )
    w2 = model[0].weight.detach().clone()
    adapt_first_conv(model, 5)  # repeat cyclically: channels 0, 1, 0, 1, 0; copies share their kernel
    assert torch.allclose(model[0].weight[:, 2], w2[:, 0] / 3) and torch.allclose(
        model[0].weight[:, 3], w2[:, 1] / 2
    )


def test_adapt_first_conv_without_pretrained_makes_a_fresh_conv_and_checks_arguments():
    model = nn.Sequential(nn.Conv2d(3, 5, 3, stride=2, padding=1, bias=False))
    adapt_first_conv(model, 1, pretrained=False)
    conv = model[0]
    assert (conv.in_channels, conv.stride, conv.padding, conv.bias) == (1, (2, 2), (1, 1), None)
    with pytest.raises(ValueError, match="grouped"):
        adapt_first_conv(nn.Sequential(nn.Conv2d(4, 4, 3, groups=2)), 3)
    with pytest.raises(ValueError, match="positive int"):
        adapt_first_conv(model, 0)


def test_create_vision_model_body_and_head():
    model = create_vision_model(resnet18, 10, pretrained=False, n_in=2)
    head = model[1]
    assert [type(m).__name__ for m in head][:2] == ["AdaptiveConcatPool2d", "Flatten"]
    linears = [m for m in head if isinstance(m, nn.Linear)]
    assert (linears[0].in_features, linears[-1].out_features) == (1024, 10)  # 2 x 512 pooled features
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 2, 64, 64)).shape == (2, 10)
    w = linears[0].weight  # the head is He-initialised: std = sqrt(2 / fan_in)
    assert w.std().item() == pytest.approx((2 / 1024) ** 0.5, rel=0.1)


def test_create_vision_model_options():
    model = create_vision_model(
        xresnet18, 3, pretrained=False, concat_pool=False, lin_ftrs=[64], y_range=(0, 5)
    )
    assert isinstance(model[1][-1], SigmoidRange)
    assert [m.in_features for m in model[1] if isinstance(m, nn.Linear)] == [512, 64]
    custom = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 7))
    model = create_vision_model(resnet18, 7, pretrained=False, custom_head=custom, init=None)
    assert model[1] is custom
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 7)


def test_splits_cover_every_parameter_once():
    model = create_vision_model(resnet18, 4, pretrained=False)
    groups = resnet_split(model)
    assert len(groups) == 3 and n_params(groups) == sum(p.numel() for p in model.parameters())
    assert groups[0][0] is model[0][0].weight and groups[1][0] is model[0][6][0].conv1.weight
    assert groups[2][-1] is list(model[1].parameters())[-1]
    xmodel = create_vision_model(xresnet18, 4, pretrained=False)
    xgroups = xresnet_split(xmodel)
    assert n_params(xgroups) == sum(p.numel() for p in xmodel.parameters())
    assert n_params(xgroups[:1]) == sum(p.numel() for p in xmodel[0][:3].parameters())  # the stem
    assert [len(g) for g in default_split(model)] == [len(list(model[0].parameters())), len(groups[2])]


def test_vision_model_is_described_as_data_without_pretrained(cached_resnet18):
    model = create_vision_model(resnet18, 3, y_range=(0.0, 1.0))
    assert torch.equal(model[0][0].weight, cached_resnet18["conv1.weight"])
    config = json.loads(json.dumps(module_config(model)))
    assert config["args"]["arch"] == {"function": "lamina.vision.resnet18"}
    assert config["args"]["pretrained"] is False  # the weights travel in the state dict
    rebuilt = module_from_config(config)
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(x), model.eval()(x))
    body = create_body(resnet18)
    assert body._init_args["pretrained"] is False
