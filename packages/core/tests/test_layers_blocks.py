"""SequentialEx and its block-input layers (MergeLayer, ProdLayer), SEModule and ResBlock."""

import pytest
import torch
from torch import nn

from lamina.core.layers.attention import SEModule, SimpleSelfAttention
from lamina.core.layers.conv import ConvLayer
from lamina.core.layers.merge import BlockInputLayer, MergeLayer, ProdLayer, SequentialEx
from lamina.core.layers.norm import NormType
from lamina.core.layers.pooling import MaxPool
from lamina.core.layers.resblock import ResBlock


class RecordOrig(BlockInputLayer):
    """Returns its input unchanged and remembers the block input it was given."""

    def forward(self, x, orig=None):
        self.seen = orig
        return x


class Double(nn.Module):
    def forward(self, x):
        return x * 2


def test_sequential_ex_passes_the_block_input_to_layers_that_take_it():
    recorder = RecordOrig()
    block = SequentialEx(Double(), Double(), recorder)
    x = torch.randn(3, 4)
    out = block(x)
    assert torch.equal(out, x * 4)
    assert recorder.seen is x


def test_duck_typed_layer_can_ask_for_the_block_input():
    class Subtract(nn.Module):
        takes_block_input = True

        def forward(self, x, orig):
            return x - orig

    x = torch.randn(2, 5)
    assert torch.allclose(SequentialEx(Double(), Subtract())(x), x)


def test_nested_blocks_see_their_own_input():
    inner_recorder, outer_recorder = RecordOrig(), RecordOrig()
    inner = SequentialEx(Double(), inner_recorder)
    x = torch.randn(2, 3)
    SequentialEx(Double(), inner, outer_recorder)(x)
    assert torch.equal(inner_recorder.seen, x * 2)
    assert outer_recorder.seen is x


def test_merge_layer_add_and_dense():
    conv = nn.Conv2d(4, 4, 3, padding=1)
    x = torch.randn(2, 4, 5, 5)
    assert torch.allclose(SequentialEx(conv, MergeLayer())(x), conv(x) + x)
    dense = SequentialEx(conv, MergeLayer(dense=True))(x)
    assert dense.shape == (2, 8, 5, 5)
    assert torch.allclose(dense[:, :4], conv(x)) and torch.equal(dense[:, 4:], x)


def test_merge_layer_errors():
    with pytest.raises(TypeError, match="MergeLayer needs the block's original input.*SequentialEx"):
        MergeLayer()(torch.randn(2, 3))
    with pytest.raises(ValueError, match=r"shape \(2, 3, 1, 1\) cannot be added to the block input of shape"):
        SequentialEx(nn.AdaptiveAvgPool2d(1), MergeLayer())(torch.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"cannot concatenate .*\(2, 3, 2, 2\).*\(2, 3, 4, 4\)"):
        SequentialEx(nn.MaxPool2d(2), MergeLayer(dense=True))(torch.randn(2, 3, 4, 4))
    with pytest.raises(TypeError, match="layer 1 is 3, not an nn.Module"):
        SequentialEx(Double(), 3)


def test_merge_layer_direct_call_with_both_tensors():
    a, b = torch.randn(2, 3), torch.randn(2, 3)
    assert torch.equal(MergeLayer()(a, b), a + b)
    assert torch.equal(ProdLayer()(a, b), a * b)


def test_sequential_ex_list_methods_keep_recorded_args():
    block = SequentialEx(Double())
    block.append(MergeLayer())
    block.insert(0, nn.Identity())
    assert len(block) == 3 and isinstance(block[2], MergeLayer)
    assert block._init_args["layers"] == tuple(block.layers)
    x = torch.randn(2, 2)
    assert torch.allclose(block(x), 3 * x)


def test_se_module_gates_channels():
    se = SEModule(32, reduction=4)
    assert [type(m) for m in se] == [nn.AdaptiveAvgPool2d, ConvLayer, ConvLayer, ProdLayer]
    assert se[1][0].out_channels == 8  # ceil(32 // 4 / 8) * 8
    x = torch.randn(2, 32, 6, 6)
    gates = se[2](se[1](x.mean((2, 3), keepdim=True)))  # the second ConvLayer ends with a sigmoid
    assert isinstance(se[2][-1], nn.Sigmoid)
    assert torch.allclose(se(x), x * gates, atol=1e-6)
    assert SEModule(16, reduction=16)[1][0].out_channels == 8  # rounded up to a multiple of 8
    assert SEModule(16, reduction=4, ndim=1)(torch.randn(2, 16, 7)).shape == (2, 16, 7)


def test_resblock_basic_same_shape_has_empty_shortcut():
    block = ResBlock(1, 16, 16)
    assert len(block.idpath) == 0 and len(block.convpath) == 2
    assert block(torch.randn(2, 16, 8, 8)).shape == (2, 16, 8, 8)
    assert isinstance(block.act, nn.ReLU) and block.act.inplace
    assert torch.all(block.convpath[-1][1].weight == 0)  # last norm is BatchZero


def test_resblock_stride_and_channel_change_uses_resnet_d_shortcut():
    block = ResBlock(1, 16, 32, stride=2)
    pool, conv = block.idpath
    assert isinstance(pool, nn.AvgPool2d) and pool.kernel_size == 2 and pool.ceil_mode
    assert (
        isinstance(conv, ConvLayer) and conv[0].kernel_size == (1, 1) and len(conv) == 2
    )  # conv + BN, no act
    x = torch.randn(2, 16, 9, 9)
    out = block.train()(x)
    assert out.shape == (2, 32, 5, 5)
    # the zero-initialised last BN makes the residual branch a constant 1e-3 at the start
    assert torch.allclose(out, torch.relu(block.idpath(x) + 1e-3), atol=1e-5)
    block_late = ResBlock(1, 16, 32, stride=2, pool_first=False)
    assert isinstance(block_late.idpath[0], ConvLayer) and isinstance(block_late.idpath[1], nn.AvgPool2d)
    assert isinstance(ResBlock(1, 8, 8, stride=2, pool=MaxPool).idpath[0], nn.MaxPool2d)


def test_resblock_bottleneck_expansion():
    block = ResBlock(4, 16, 8, stride=2)
    assert [layer[0].kernel_size for layer in block.convpath] == [(1, 1), (3, 3), (1, 1)]
    assert block.convpath[0][0].in_channels == 64 and block.convpath[-1][0].out_channels == 32
    assert block(torch.randn(2, 64, 8, 8)).shape == (2, 32, 4, 4)
    wide = ResBlock(4, 16, 8, nh1=12, nh2=20)
    assert wide.convpath[0][0].out_channels == 12 and wide.convpath[1][0].out_channels == 20


def test_resblock_groups_depthwise_and_g2():
    grouped = ResBlock(1, 16, 16, groups=4, g2=2)
    assert grouped.convpath[0][0].groups == 4 and grouped.convpath[1][0].groups == 2
    depthwise = ResBlock(1, 16, 32, dw=True)
    assert depthwise.convpath[0][0].groups == 16
    assert depthwise(torch.randn(2, 16, 6, 6)).shape == (2, 32, 6, 6)
    bottleneck_dw = ResBlock(4, 8, 8, dw=True)
    assert bottleneck_dw.convpath[1][0].groups == 8
    with pytest.raises(ValueError, match="groups=3 must divide"):
        ResBlock(1, 16, 16, groups=3)


def test_resblock_with_squeeze_excitation_and_self_attention():
    block = ResBlock(1, 16, 32, stride=2, reduction=8, sa=True, sym=True)
    assert isinstance(block.convpath[-2], SEModule) and isinstance(block.convpath[-1], SimpleSelfAttention)
    assert block.convpath[-1].sym
    assert block(torch.randn(2, 16, 8, 8)).shape == (2, 32, 4, 4)


@pytest.mark.parametrize(
    "ndim, size, expected", [(1, (2, 8, 9), (2, 16, 5)), (3, (2, 8, 5, 5, 5), (2, 16, 3, 3, 3))]
)
def test_resblock_other_ndims(ndim, size, expected):
    block = ResBlock(1, 8, 16, stride=2, ndim=ndim, reduction=2)
    assert block(torch.randn(size)).shape == expected


def test_resblock_instance_norm_and_activation_choice():
    block = ResBlock(1, 8, 8, norm_type=NormType.Instance, act_cls=nn.Mish)
    last_norm = block.convpath[-1][1]
    assert isinstance(last_norm, nn.InstanceNorm2d) and torch.all(last_norm.weight == 0)
    assert isinstance(block.act, nn.Mish)
    with pytest.raises(ValueError, match="stride must be a positive int"):
        ResBlock(1, 8, 8, stride=0)
