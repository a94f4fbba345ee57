"""The XResNet family: shapes in 1/2/3-d, sizes derived by hand, initialisation and the variants."""

import json

import pytest
import torch
from torch import nn

from lamina.core.layers.activations import Mish
from lamina.core.layers.attention import SEModule, SimpleSelfAttention
from lamina.core.layers.recorded import module_config, module_from_config
from lamina.core.layers.resblock import ResBlock
from lamina.vision.models import xresnet
from lamina.vision.models.xresnet import XResNet, xresnet18, xresnet50


@pytest.fixture(autouse=True, scope="module")
def native_cpu_convolutions():
    """oneDNN builds a kernel for each new convolution shape (~0.5 s apiece on a small CPU); these tests
    run many shapes once each, so PyTorch's native kernels make them several times faster."""
    enabled = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    yield
    torch.backends.mkldnn.enabled = enabled


def on_meta(factory, *args, **kwargs):
    with torch.device("meta"):
        return factory(*args, **kwargs)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


# Hand derivation of the sizes: conv(ni, nf, k, groups) weights, bn(n) scale + shift.
def conv(ni, nf, k, groups=1):
    return ni // groups * nf * k * k


def bn(n):
    return 2 * n


def stem():  # 3 -> 32 (stride 2) -> 32 -> 64, each 3x3 conv + BN
    return conv(3, 32, 3) + bn(32) + conv(32, 32, 3) + bn(32) + conv(32, 64, 3) + bn(64)


def derived_params(expansion, layers, n_out=1000, groups=1, se_reduction=None):
    total, ni = stem(), 64
    for width, n_blocks in zip([64, 128, 256, 512], layers):
        nf = width * expansion
        for b in range(n_blocks):
            block_in = ni if b == 0 else nf
            if expansion == 1:  # 3x3 (grouped) then 3x3
                total += conv(block_in, width, 3, groups) + bn(width) + conv(width, nf, 3) + bn(nf)
            else:  # 1x1, 3x3 (grouped), 1x1
                total += conv(block_in, width, 1) + bn(width) + conv(width, width, 3, groups) + bn(width)
                total += conv(width, nf, 1) + bn(nf)
            if se_reduction:  # pool, 1x1 down to a multiple of 8 (with bias), 1x1 up (with bias)
                nh = -(-(nf // se_reduction) // 8) * 8
                total += conv(nf, nh, 1) + nh + conv(nh, nf, 1) + nf
            if block_in != nf:  # ResNet-D shortcut: avg-pool, then 1x1 conv + BN
                total += conv(block_in, nf, 1) + bn(nf)
        ni = nf
    return total + ni * n_out + n_out


def test_parameter_counts_match_the_hand_derivation(monkeypatch):
    monkeypatch.setattr(xresnet, "init_cnn", lambda m: m)  # sizes only: skip the (slow on meta) init
    x50 = on_meta(xresnet50)
    assert n_params(x50) == derived_params(4, [3, 4, 6, 3]) == 25_576_264
    assert n_params(on_meta(xresnet18)) == derived_params(1, [2, 2, 2, 2]) == 11_708_744
    # the body alone (what a vision learner keeps): the 2048 x 1000 classifier removed
    assert n_params(x50[:-4]) == 23_527_264
    assert n_params(on_meta(xresnet.xresnet101, n_out=10)) == derived_params(4, [3, 4, 23, 3], n_out=10)
    assert n_params(on_meta(xresnet.xse_resnet50)) == derived_params(4, [3, 4, 6, 3], se_reduction=16)
    assert n_params(on_meta(xresnet.xresnext50)) == derived_params(4, [3, 4, 6, 3], groups=32)
    assert n_params(on_meta(xresnet.xse_resnext34)) == derived_params(1, [3, 4, 6, 3], 1000, 32, 16)


@pytest.mark.parametrize(
    "ndim, shape", [(1, (2, 3, 64)), (2, (2, 3, 32, 40)), (3, (2, 3, 32, 32, 32))], ids=["1d", "2d", "3d"]
)
def test_output_shape_for_each_ndim(ndim, shape):
    model = XResNet(ResBlock, 1, [1, 1, 1, 1], n_out=5, ndim=ndim, stem_szs=(8, 8, 16), widen=0.25).eval()
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d))]
    assert {type(c) for c in convs} == {(nn.Conv1d, nn.Conv2d, nn.Conv3d)[ndim - 1]}
    with torch.no_grad():
        assert model(torch.randn(shape)).shape == (2, 5)


def test_layout_stem_pool_stages_head_and_cut_minus_four():
    model = on_meta(xresnet18)
    kinds = [type(m).__name__ for m in model.children()]
    assert kinds[:4] == ["ConvLayer"] * 3 + ["MaxPool2d"]
    assert kinds[4:8] == ["Sequential"] * 4
    assert kinds[-4:] == ["AdaptiveAvgPool2d", "Flatten", "Dropout", "Linear"]
    assert model[0][0].stride == (2, 2) and model[1][0].stride == (1, 1)
    body = model[:-4]
    assert isinstance(body, nn.Sequential) and type(body) is nn.Sequential and len(body) == 8
    assert len(on_meta(xresnet.xresnet18_deep)) == 14 and len(on_meta(xresnet.xresnet50_deeper)) == 16


def test_bag_of_tricks_init():
    model = xresnet18()
    blocks = [m for m in model.modules() if isinstance(m, ResBlock)]
    assert len(blocks) == 8
    for block in blocks:  # the last norm of each residual branch starts at zero: blocks start as identity
        last_bn = block.convpath[-1][1]
        assert isinstance(last_bn, nn.BatchNorm2d) and torch.all(last_bn.weight == 0)
    first_bn = blocks[0].convpath[0][1]
    assert torch.all(first_bn.weight == 1)
    assert all(
        torch.all(m.bias == 0) for m in model.modules() if isinstance(getattr(m, "bias", None), nn.Parameter)
    )
    w = model[4][0].convpath[0][0].weight  # 64 -> 64, 3x3: He-normal, fan_in = 576
    assert w.std().item() == pytest.approx((2 / 576) ** 0.5, rel=0.05)
    shortcut = model[5][0].idpath  # ResNet-D: average pooling, then a 1x1 conv
    assert [type(m).__name__ for m in shortcut] == ["AvgPool2d", "ConvLayer"]


def test_residual_blocks_start_as_their_shortcut():
    model = XResNet(ResBlock, 1, [1, 1], n_out=3, stem_szs=(8, 16)).eval()
    block = model[3][0]  # 16 -> 64 channels, stride 1: shortcut is a 1x1 conv
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        assert torch.allclose(block(x), torch.relu(block.idpath(x)))


def test_squeeze_excitation_grouped_and_depthwise_variants_run():
    x = torch.randn(2, 3, 32, 32)
    se = xresnet.xse_resnet18(n_out=4).eval()
    assert sum(isinstance(m, SEModule) for m in se.modules()) == 8
    grouped = xresnet.xresnext18(n_out=4).eval()
    assert {m.groups for m in grouped.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)} >= {
        32
    }
    both = xresnet.xse_resnext18(n_out=4).eval()
    assert any(isinstance(m, SEModule) for m in both.modules())
    dw = XResNet(ResBlock, 1, [1, 1, 1, 1], n_out=4, dw=True).eval()
    depthwise = [m for m in dw.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert depthwise and all(m.groups == m.in_channels for m in depthwise)
    with torch.no_grad():
        for model in (se, grouped, both, dw):
            assert model(x).shape == (2, 4)


def test_self_attention_goes_in_the_last_block_of_the_first_stage():
    model = xresnet18(sa=True, n_out=2).eval()
    where = [n for n, m in model.named_modules() if isinstance(m, SimpleSelfAttention)]
    assert where == ["4.1.convpath.2"]
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 2)


def test_custom_activation_is_used_everywhere():
    model = xresnet18(act_cls=Mish, n_out=2)
    assert sum(isinstance(m, Mish) for m in model.modules()) == 3 + 8 * 2  # stem, inside and after each block
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())


def test_widen_and_dropout():
    model = on_meta(xresnet18, widen=2.0, p=0.3, n_out=3)
    assert model[-1].in_features == 1024 and model[-2].p == 0.3


def test_argument_errors_are_clear():
    with pytest.raises(ValueError, match="positive odd int"):
        xresnet18(ks=4)
    with pytest.raises(ValueError, match="multiple of expansion=4"):
        xresnet50(stem_szs=(32, 32, 66))
    with pytest.raises(ValueError, match="layers must be positive ints"):
        XResNet(ResBlock, 1, [])
    with pytest.raises(TypeError, match="pass n_out=... by keyword"):
        xresnet.xse_resnet18(10)
    with pytest.raises(KeyError, match="no pretrained weights are known for 'xresnet18'"):
        xresnet18(pretrained=True)


def test_xresnet_is_described_as_data_and_rebuilt():
    model = xresnet.xse_resnext18(n_out=3, act_cls=Mish, sa=True)
    config = json.loads(json.dumps(module_config(model)))
    assert config["class"] == "lamina.vision.XResNet" and config["args"]["groups"] == 32
    rebuilt = module_from_config(config)
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(x), model.eval()(x))


G0, G1, G2, G3 = [2, 2, 2, 2], [3, 4, 6, 3], [3, 4, 23, 3], [3, 8, 36, 3]
SE, SE_X, X = dict(groups=1, reduction=16), dict(groups=32, reduction=16), dict(groups=32, reduction=None)
FACTORIES = {  # name: (expansion, layers, preset keywords), as in fastai's xresnet module
    "xresnet18": (1, G0, {}),
    "xresnet34": (1, G1, {}),
    "xresnet50": (4, G1, {}),
    "xresnet101": (4, G2, {}),
    "xresnet152": (4, G3, {}),
    "xresnet18_deep": (1, G0 + [1, 1], {}),
    "xresnet34_deep": (1, G1 + [1, 1], {}),
    "xresnet50_deep": (4, G1 + [1, 1], {}),
    "xresnet18_deeper": (1, [2, 2, 1, 1, 1, 1, 1, 1], {}),
    "xresnet34_deeper": (1, G1 + [1, 1, 1, 1], {}),
    "xresnet50_deeper": (4, G1 + [1, 1, 1, 1], {}),
    "xse_resnet18": (1, G0, SE),
    "xse_resnet34": (1, G1, SE),
    "xse_resnet50": (4, G1, SE),
    "xse_resnet101": (4, G2, SE),
    "xse_resnet152": (4, G3, SE),
    "xresnext18": (1, G0, X),
    "xresnext34": (1, G1, X),
    "xresnext50": (4, G1, X),
    "xresnext101": (4, G2, X),
    "xse_resnext18": (1, G0, SE_X),
    "xse_resnext34": (1, G1, SE_X),
    "xse_resnext50": (4, G1, SE_X),
    "xse_resnext101": (4, G2, SE_X),
    "xse_resnext18_deep": (1, G0 + [1, 1], SE_X),
    "xse_resnext34_deep": (1, G1 + [1, 1], SE_X),
    "xse_resnext50_deep": (4, G1 + [1, 1], SE_X),
    "xse_resnext18_deeper": (1, [2, 2, 1, 1, 1, 1, 1, 1], SE_X),
    "xse_resnext34_deeper": (1, G1 + [1, 1, 1, 1], SE_X),
    "xse_resnext50_deeper": (4, G1 + [1, 1, 1, 1], SE_X),
}


def test_every_factory_passes_its_configuration(monkeypatch):
    calls = []
    monkeypatch.setattr(
        xresnet, "XResNet", lambda block, exp, layers, **kw: calls.append((block, exp, layers, kw))
    )
    assert {n for n in xresnet.__all__ if n.startswith("x")} == set(FACTORIES)
    for name, (expansion, layers, preset) in FACTORIES.items():
        getattr(xresnet, name)(n_out=10)
        assert calls.pop() == (ResBlock, expansion, layers, {**preset, "n_out": 10}), name
    xresnet.xresnext18(groups=16)  # the caller's keywords win over the preset
    assert calls.pop()[3]["groups"] == 16
