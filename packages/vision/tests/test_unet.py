"""`DynamicUnet`: cross connections found by a dummy run, output size = input size, options, export."""

import copy
import json

import pytest
import torch
from torch import nn

from lamina.core.layers.attention import SelfAttention
from lamina.core.layers.basic import SigmoidRange
from lamina.core.layers.merge import MergeLayer
from lamina.core.layers.recorded import module_config, module_from_config
from lamina.core.layers.resblock import ResBlock
from lamina.core.layers.upsample import PixelShuffle_ICNR
from lamina.vision.arch_meta import create_body, create_unet_model, resnet_split
from lamina.vision.models.resnet import resnet18, resnet34
from lamina.vision.models.unet import DynamicUnet, ResizeToOrig, UnetBlock, cross_connection_indices
from lamina.vision.models.xresnet import XResNet, xresnet18


@pytest.fixture(autouse=True, scope="module")
def native_cpu_convolutions():
    """oneDNN builds a kernel for each new convolution shape (~0.5 s apiece on a small CPU); these tests
    run many shapes once each, so PyTorch's native kernels make them several times faster."""
    enabled = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    yield
    torch.backends.mkldnn.enabled = enabled


@pytest.fixture(scope="module")
def r18_body():
    return create_body(resnet18, pretrained=False)


@pytest.fixture
def tiny_body():
    """A small xresnet body (stages of 16/32/64/128 channels): same structure, fast to build and run."""
    return create_body(XResNet(ResBlock, 1, [1, 1, 1, 1], stem_szs=(8, 8, 16), widen=0.25), pretrained=False)


def run(model, *shape):
    with torch.no_grad():
        return model.eval()(torch.randn(*shape))


def blocks(unet):
    return [m for m in unet.layers if isinstance(m, UnetBlock)]


@pytest.mark.parametrize("size", [(64, 64), (96, 128), (100, 100)], ids=["64x64", "96x128", "100x100"])
def test_resnet18_unet_output_matches_the_input_size(r18_body, size):
    unet = DynamicUnet(copy.deepcopy(r18_body), n_out=5, img_size=size)
    # resnet body: conv1 /2, bn1, relu | maxpool /2, layer1 | layer2 /2 | layer3 /2 | layer4 /2
    assert unet.cross_indices == (2, 4, 5, 6)
    assert [b.shuf[0][0].in_channels for b in blocks(unet)] == [512, 512, 384, 256]
    assert run(unet, 1, 3, *size).shape == (1, 5, *size)
    if size == (100, 100):
        # 100 -> 50 -> 25 -> 13 -> 7 -> 4: upsampled maps (8, 14, 26) are resized to the encoder's (7, 13, 25)
        assert run(unet, 1, 3, 97, 131).shape == (1, 5, 97, 131)
        assert run(unet, 1, 3, 64, 64).shape == (1, 5, 64, 64)  # a size other than img_size works too


def test_resnet34_body():
    unet = create_unet_model(resnet34, 3, (64, 96), pretrained=False)
    assert unet.cross_indices == (2, 4, 5, 6)
    assert run(unet, 1, 3, 64, 96).shape == (1, 3, 64, 96)


def test_xresnet_body_cut_at_the_pooling_layer():
    xunet = create_unet_model(xresnet18, 3, 64, pretrained=False)  # xresnet cut at its pooling layer
    # stem conv /2, conv, conv | maxpool /2, stage 1 | stage 2 /2 | stage 3 /2 | stage 4 /2
    assert len(xunet[0]) == 8 and xunet.cross_indices == (2, 4, 5, 6)
    assert run(xunet, 1, 3, 64, 64).shape == (1, 3, 64, 64)


def test_layers_and_final_upsampling(tiny_body):
    unet = DynamicUnet(tiny_body, n_out=4, img_size=64)
    kinds = [type(m).__name__ for m in unet.layers]
    assert kinds[:4] == ["VisionBody", "BatchNorm2d", "ReLU", "Sequential"]
    assert kinds[4:8] == ["UnetBlock"] * 4
    # shallowest features are 32x32 for a 64x64 input: one more x2 upsampling, then resize/cross/resblock
    assert kinds[8:] == ["PixelShuffle_ICNR", "ResizeToOrig", "MergeLayer", "ResBlock", "ConvLayer"]
    # decoder widths 128 -> 128 -> 96 -> 64 -> 24, then the 3 input channels join
    assert [b.n_out for b in blocks(unet)] == [128, 96, 64, 24]
    assert unet[-1][0].out_channels == 4 and unet[-2].convpath[0][0].in_channels == 24 + 3


def test_cross_connection_indices():
    sizes = [torch.Size(s) for s in [(1, 4, 8, 8), (1, 4, 8, 8), (1, 8, 4, 4), (1, 8, 4, 2), (1, 8, 4, 2)]]
    assert cross_connection_indices(sizes) == [1, 2]


def test_skip_connections_carry_gradients_to_the_encoder(tiny_body):
    unet = DynamicUnet(tiny_body, n_out=1, img_size=32)
    unet(torch.randn(2, 3, 32, 32)).mean().backward()
    encoder = unet[0]
    assert encoder[0][0].weight.grad is not None and encoder[0][0].weight.grad.abs().sum() > 0
    # the deepest stage (its residual branches start at zero, so the gradient arrives through the shortcut)
    assert encoder[7][0].idpath[1][0].weight.grad.abs().sum() > 0


def test_options_self_attention_blur_y_range_last_cross_bottle(tiny_body):
    unet = DynamicUnet(
        tiny_body, 2, 64, self_attention=True, blur=True, blur_final=False, y_range=(-1.0, 2.0)
    )
    attention = [
        i for i, b in enumerate(blocks(unet)) if any(isinstance(m, SelfAttention) for m in b.modules())
    ]
    assert attention == [1]  # the third block from the end
    blurred = [any(isinstance(m, nn.AvgPool2d) for m in b.shuf) for b in blocks(unet)]
    assert blurred == [True, True, True, False]
    assert isinstance(unet[-1], SigmoidRange)
    out = run(unet, 2, 3, 64, 64)
    assert out.min() > -1.0 and out.max() < 2.0
    plain = DynamicUnet(tiny_body, 2, 64, last_cross=False)
    assert not any(isinstance(m, (MergeLayer, ResBlock)) for m in plain.layers)
    assert run(plain, 1, 3, 64, 64).shape == (1, 2, 64, 64)
    bottle = DynamicUnet(tiny_body, 2, 64, bottle=True)
    res = bottle[-2]
    # tiny decoder: 128 -> 128 -> 96 -> 64 -> 24 channels, + 3 input channels, hidden width halved
    assert res.convpath[0][0].out_channels == res.convpath[1][0].in_channels == (24 + 3) // 2


def test_decoder_init_and_icnr(tiny_body):
    unet = DynamicUnet(tiny_body, 2, 64)
    conv = blocks(unet)[0].conv1[0]  # 64 + 64 -> 128 channels, 3x3, He-normal
    assert conv.weight.std().item() == pytest.approx((2 / (128 * 9)) ** 0.5, rel=0.05)
    shuf = blocks(unet)[0].shuf[0][0]  # ICNR: each group of 4 sub-pixel kernels starts equal
    w = shuf.weight.detach()
    assert torch.equal(w[0::4], w[1::4]) and torch.equal(w[0::4], w[3::4])


def test_copies_need_no_hook_state(tiny_body):
    unet = DynamicUnet(tiny_body, 2, 32).eval()
    twin = copy.deepcopy(unet)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(unet(x), twin(x))


def test_described_as_data_and_rebuilt(tiny_body):
    unet = DynamicUnet(tiny_body, 2, 32, y_range=(0.0, 1.0), self_attention=True)
    config = json.loads(json.dumps(module_config(unet)))
    encoder = config["args"]["encoder"]["module"]
    assert encoder["class"] == "lamina.vision.VisionBody" and encoder["args"]["pretrained"] is False
    assert encoder["args"]["arch"]["module"]["class"] == "lamina.vision.XResNet"
    rebuilt = module_from_config(config)
    rebuilt.load_state_dict(unet.state_dict())
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(x), unet.eval()(x))


def test_resnet_split_groups_cover_the_unet(tiny_body):
    unet = DynamicUnet(tiny_body, 2, 32)
    groups = resnet_split(unet)
    assert len(groups) == 3
    ids = [id(p) for g in groups for p in g]
    assert len(ids) == len(set(ids)) == len(list(unet.parameters()))
    assert groups[0][0] is unet[0][0][0].weight


def test_errors_are_clear(tiny_body):
    with pytest.raises(TypeError, match="must be an nn.Sequential"):
        DynamicUnet(nn.Conv2d(3, 8, 3), 2, 32)
    flat = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
    with pytest.raises(ValueError, match="no child of the encoder changes the spatial size"):
        DynamicUnet(flat, 2, 32)
    with pytest.raises(ValueError, match="img_size must be an int or"):
        DynamicUnet(tiny_body, 2, (32, 32, 32))
    unet = DynamicUnet(tiny_body, 2, 32)
    with pytest.raises(ValueError, match=r"\(bs, 3, height, width\), got shape \(1, 1, 32, 32\)"):
        unet(torch.randn(1, 1, 32, 32))


def test_resize_to_orig_and_pixel_shuffle_pieces():
    resize = ResizeToOrig()
    x, orig = torch.randn(1, 2, 8, 8), torch.randn(1, 3, 9, 7)
    assert resize(x, orig).shape == (1, 2, 9, 7)
    assert resize(x, torch.randn(1, 3, 8, 8)) is x
    block = UnetBlock(16, 4)
    assert isinstance(block.shuf, PixelShuffle_ICNR)
    assert block(torch.randn(1, 16, 4, 4), torch.randn(1, 4, 9, 9)).shape == (1, 12, 9, 9)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_unet_builds_and_runs_on_cuda(tiny_body):
    unet = DynamicUnet(tiny_body.cuda(), 2, (48, 64)).cuda()
    out = unet(torch.randn(2, 3, 50, 70, device="cuda"))
    assert out.shape == (2, 2, 50, 70) and out.device.type == "cuda"
    out.mean().backward()
