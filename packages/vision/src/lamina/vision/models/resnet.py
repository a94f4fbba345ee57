"""ResNet (He et al., 2015) with torchvision's module layout, so torchvision state dicts load unchanged.

The names, order and shapes of every `state_dict` entry are torchvision's (`conv1`, `bn1`,
`layer1.0.conv1`, ..., `layer2.0.downsample.0`/`.1`, `fc`), and so are the initialisation
(He-normal fan-out convolutions, batch norms at weight 1 / bias 0, optional zero-initialised last
norm of each residual branch), grouped/wide bottlenecks and stride-to-dilation replacement. The
children of a `ResNet` are `conv1, bn1, relu, maxpool, layer1..layer4, avgpool, fc`: the body is
everything before the last two (`cut=-2`). The models record their constructor arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from lamina.core.layers.recorded import RecordedInit, register_function
from lamina.core.plugins.registry import register_class
from lamina.vision.models.weights import load_pretrained

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "wide_resnet50_2",
    "wide_resnet101_2",
]

NormLayer = Callable[[int], nn.Module]


def _conv3x3(ni: int, nf: int, stride: int = 1, groups: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(ni, nf, 3, stride=stride, padding=dilation, groups=groups, dilation=dilation, bias=False)


def _conv1x1(ni: int, nf: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(ni, nf, 1, stride=stride, bias=False)


def _shortcut(ni: int, nf: int, stride: int, norm_layer: NormLayer) -> nn.Sequential | None:
    """torchvision's `downsample`: a strided 1x1 conv and a norm, when the shape changes; else None."""
    if stride == 1 and ni == nf:
        return None
    return nn.Sequential(_conv1x1(ni, nf, stride), norm_layer(nf))


@register_class("lamina.vision.BasicBlock")
class BasicBlock(RecordedInit, nn.Module):
    """Two 3x3 convolutions with norms and a residual connection (ResNet-18/34).

    The shortcut (`downsample`) is built here when `stride != 1` or the width changes.
    """

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: NormLayer = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError(
                f"BasicBlock supports only groups=1 and base_width=64, got groups={groups}, "
                f"base_width={base_width}; grouped and wide ResNets use Bottleneck"
            )
        if dilation > 1:
            raise ValueError(f"BasicBlock does not support dilation > 1, got dilation={dilation}")
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = _shortcut(inplanes, planes, stride, norm_layer)
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


@register_class("lamina.vision.Bottleneck")
class Bottleneck(RecordedInit, nn.Module):
    """1x1 reduce, 3x3 (strided, grouped, dilated) and 1x1 expand convolutions with a residual (ResNet-50+).

    The stride is on the 3x3 convolution (torchvision's "ResNet v1.5"). The inner width is
    `int(planes * base_width / 64) * groups`; the output has `planes * 4` channels.
    """

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: NormLayer = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        out = planes * self.expansion
        self.conv1 = _conv1x1(inplanes, width)
        self.bn1 = norm_layer(width)
        self.conv2 = _conv3x3(width, width, stride, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = _conv1x1(width, out)
        self.bn3 = norm_layer(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(inplanes, out, stride, norm_layer)
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def _check_positive_ints(where: str, name: str, values: Any, count: int | None = None) -> list[int]:
    try:
        values = list(values)
    except TypeError:
        raise TypeError(f"{where}: {name} must be a sequence of ints, got {values!r}") from None
    ok = all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values)
    if not values or not ok or (count is not None and len(values) != count):
        n = f"{count} " if count is not None else ""
        raise ValueError(f"{where}: {name} must be {n}positive ints, got {values!r}")
    return values


@register_class("lamina.vision.ResNet")
class ResNet(RecordedInit, nn.Module):
    """A ResNet: a 7x7 stem, max pooling, four stages of `block`s (`layers` blocks each), pooling, `fc`.

    `block` is `BasicBlock` or `Bottleneck`. `groups`/`width_per_group` make ResNeXt and wide ResNets;
    `replace_stride_with_dilation` (three bools, for stages 2-4) keeps the resolution by dilating
    instead of striding; `zero_init_residual` starts each block's last norm at 0. `in_chans` is the
    number of input channels (3 for the pretrained weights).
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: Sequence[int],
        num_classes: int = 1000,
        zero_init_residual: bool = False,
        groups: int = 1,
        width_per_group: int = 64,
        replace_stride_with_dilation: Sequence[bool] | None = None,
        norm_layer: NormLayer = nn.BatchNorm2d,
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        where = f"ResNet({getattr(block, '__name__', block)}, {layers!r})"
        if not (isinstance(block, type) and issubclass(block, (BasicBlock, Bottleneck))):
            raise TypeError(f"{where}: block must be BasicBlock or Bottleneck (or a subclass), got {block!r}")
        layers = _check_positive_ints(where, "layers", layers, count=4)
        num_classes, in_chans = _check_positive_ints(
            where, "num_classes and in_chans", (num_classes, in_chans)
        )
        dilate = [False] * 3 if replace_stride_with_dilation is None else list(replace_stride_with_dilation)
        if len(dilate) != 3:
            raise ValueError(
                f"{where}: replace_stride_with_dilation must be None or 3 bools (stages 2-4), got "
                f"{replace_stride_with_dilation!r}"
            )
        self.inplanes, self.dilation = 64, 1
        self.groups, self.base_width = groups, width_per_group
        self.conv1 = nn.Conv2d(in_chans, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0], 1, False, norm_layer)
        self.layer2 = self._make_layer(block, 128, layers[1], 2, dilate[0], norm_layer)
        self.layer3 = self._make_layer(block, 256, layers[2], 2, dilate[1], norm_layer)
        self.layer4 = self._make_layer(block, 512, layers[3], 2, dilate[2], norm_layer)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        self._init_weights(zero_init_residual)

    def _make_layer(
        self,
        block: type[nn.Module],
        planes: int,
        blocks: int,
        stride: int,
        dilate: bool,
        norm_layer: NormLayer,
    ) -> nn.Sequential:
        first_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        common = dict(groups=self.groups, base_width=self.base_width, norm_layer=norm_layer)
        stage = [block(self.inplanes, planes, stride, dilation=first_dilation, **common)]
        self.inplanes = planes * block.expansion
        stage += [block(self.inplanes, planes, dilation=self.dilation, **common) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def _init_weights(self, zero_init_residual: bool) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                last = m.bn3 if isinstance(m, Bottleneck) else m.bn2 if isinstance(m, BasicBlock) else None
                if last is not None and getattr(last, "weight", None) is not None:
                    nn.init.constant_(last.weight, 0)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.conv1.in_channels:
            raise ValueError(
                f"{type(self).__name__}: expected a batch of shape (bs, {self.conv1.in_channels}, height, "
                f"width), got shape {tuple(x.shape)}"
            )
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _resnet(
    name: str, block: type[nn.Module], layers: list[int], pretrained: bool, progress: bool, **kwargs: Any
) -> ResNet:
    if not isinstance(pretrained, bool):
        raise TypeError(f"{name}: pretrained must be a bool, got {pretrained!r}")
    model = ResNet(block, layers, **kwargs)
    if pretrained:
        load_pretrained(model, name, progress=progress)
    return model


@register_function("lamina.vision.resnet18")
def resnet18(pretrained: bool = False, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-18 (11.7M parameters); `pretrained=True` loads torchvision's ImageNet weights."""
    return _resnet("resnet18", BasicBlock, [2, 2, 2, 2], pretrained, progress, **kwargs)


@register_function("lamina.vision.resnet34")
def resnet34(pretrained: bool = False, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-34 (21.8M parameters); `pretrained=True` loads torchvision's ImageNet weights."""
    return _resnet("resnet34", BasicBlock, [3, 4, 6, 3], pretrained, progress, **kwargs)


@register_function("lamina.vision.resnet50")
def resnet50(pretrained: bool = False, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-50 (25.6M parameters); `pretrained=True` loads torchvision's ImageNet weights."""
    return _resnet("resnet50", Bottleneck, [3, 4, 6, 3], pretrained, progress, **kwargs)


@register_function("lamina.vision.resnet101")
def resnet101(pretrained: bool = False, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-101 (44.5M parameters); `pretrained=True` loads torchvision's ImageNet weights."""
    return _resnet("resnet101", Bottleneck, [3, 4, 23, 3], pretrained, progress, **kwargs)


@register_function("lamina.vision.resnet152")
def resnet152(pretrained: bool = False, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-152 (60.2M parameters); `pretrained=True` loads torchvision's ImageNet weights."""
    return _resnet("resnet152", Bottleneck, [3, 8, 36, 3], pretrained, progress, **kwargs)


@register_function("lamina.vision.resnext50_32x4d")
def resnext50_32x4d(pretrained: bool = False, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNeXt-50 32x4d (32 groups of width 4 in the first stage)."""
    kwargs.update(groups=32, width_per_group=4)
    return _resnet("resnext50_32x4d", Bottleneck, [3, 4, 6, 3], pretrained, progress, **kwargs)


@register_function("lamina.vision.resnext101_32x8d")
def resnext101_32x8d(pretrained: bool = False, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNeXt-101 32x8d (32 groups of width 8 in the first stage)."""
    kwargs.update(groups=32, width_per_group=8)
    return _resnet("resnext101_32x8d", Bottleneck, [3, 4, 23, 3], pretrained, progress, **kwargs)


@register_function("lamina.vision.wide_resnet50_2")
def wide_resnet50_2(pretrained: bool = False, progress: bool = True, **kwargs: Any) -> ResNet:
    """Wide ResNet-50-2: ResNet-50 with bottlenecks twice as wide."""
    kwargs.update(width_per_group=128)
    return _resnet("wide_resnet50_2", Bottleneck, [3, 4, 6, 3], pretrained, progress, **kwargs)


@register_function("lamina.vision.wide_resnet101_2")
def wide_resnet101_2(pretrained: bool = False, progress: bool = True, **kwargs: Any) -> ResNet:
    """Wide ResNet-101-2: ResNet-101 with bottlenecks twice as wide."""
    kwargs.update(width_per_group=128)
    return _resnet("wide_resnet101_2", Bottleneck, [3, 4, 23, 3], pretrained, progress, **kwargs)
