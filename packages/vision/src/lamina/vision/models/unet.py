"""`DynamicUnet`: a U-Net decoder built for any sequential encoder, found by a dummy run with hooks.

At construction, `model_sizes` (forward hooks on the encoder's children, one dummy batch of
`img_size`) gives the output shape of each child; a cross connection is taken from each child after
which the spatial size changes. The decoder mirrors them: each `UnetBlock` upsamples with
`PixelShuffle_ICNR`, concatenates the (batch-normalised) encoder features of the matching
resolution and applies two convolutions.

Sizes: any input size the encoder accepts works, also odd ones (100x100, 97x131) and sizes other
than `img_size`. Where an upsampled map and its cross connection differ by the rounding of a
strided layer, the upsampled map is resized (nearest) to the encoder's; the output is resized the
same way to the input's exact height and width (`ResizeToOrig`). So the output always has the
input's spatial size.

The forward pass runs the encoder's children itself, keeping the cross-connection features as
ordinary tensors (no hook state on the modules), so the model can be copied, pickled, compiled or
replicated freely. Hence the encoder must be a plain `nn.Sequential` (children run in order), as
`create_body` builds it; hooks registered on the encoder module itself (not on its layers) do not
fire. `model[0]` is the encoder and `model[1:]` the decoder, the split transfer learning uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lamina.core.basics.meta import delegates
from lamina.core.hooks import in_channels, model_sizes
from lamina.core.layers.attention import SelfAttention
from lamina.core.layers.basic import SigmoidRange
from lamina.core.layers.conv import ConvLayer
from lamina.core.layers.init import apply_init
from lamina.core.layers.merge import BlockInputLayer, MergeLayer, SequentialEx
from lamina.core.layers.norm import BatchNorm, NormType
from lamina.core.layers.recorded import RecordedInit
from lamina.core.layers.resblock import ResBlock
from lamina.core.layers.upsample import PixelShuffle_ICNR
from lamina.core.plugins.registry import register_class

__all__ = ["UnetBlock", "ResizeToOrig", "DynamicUnet", "cross_connection_indices"]

ImgSize = int | tuple[int, int]


@register_class("lamina.vision.UnetBlock")
class UnetBlock(RecordedInit, nn.Module):
    """One decoder step: upsample `up_in_c` channels x2, join the `x_in_c`-channel encoder features, convolve.

    `forward(up_in, skip)`: `PixelShuffle_ICNR` to `up_in_c // 2` channels (resized to `skip`'s
    size if they differ), concatenated with `BatchNorm(skip)`, activation, then two `ConvLayer`s;
    the output has the concatenated width (`final_div`) or half of it. `self_attention` adds a
    `SelfAttention` after the second conv. The convs are initialised with `init`.
    """

    @delegates(ConvLayer.__init__)
    def __init__(
        self,
        up_in_c: int,
        x_in_c: int,
        final_div: bool = True,
        blur: bool = False,
        act_cls: Callable[..., nn.Module] = nn.ReLU,
        self_attention: bool = False,
        init: Callable | None = nn.init.kaiming_normal_,
        norm_type: NormType | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.shuf = PixelShuffle_ICNR(up_in_c, up_in_c // 2, blur=blur, act_cls=act_cls, norm_type=norm_type)
        self.bn = BatchNorm(x_in_c)
        ni = up_in_c // 2 + x_in_c
        nf = ni if final_div else ni // 2
        self.conv1 = ConvLayer(ni, nf, act_cls=act_cls, norm_type=norm_type, **kwargs)
        xtra = SelfAttention(nf) if self_attention else None
        self.conv2 = ConvLayer(nf, nf, act_cls=act_cls, norm_type=norm_type, xtra=xtra, **kwargs)
        self.relu = act_cls()
        if init is not None:
            apply_init(nn.Sequential(self.conv1, self.conv2), init)
        self.n_out = nf

    def forward(self, up_in: Tensor, skip: Tensor) -> Tensor:
        up_out = self.shuf(up_in)
        if up_out.shape[-2:] != skip.shape[-2:]:
            up_out = F.interpolate(up_out, skip.shape[-2:], mode="nearest")
        cat_x = self.relu(torch.cat([up_out, self.bn(skip)], dim=1))
        return self.conv2(self.conv1(cat_x))


@register_class("lamina.vision.ResizeToOrig")
class ResizeToOrig(RecordedInit, BlockInputLayer):
    """Resize the output (interpolation `mode`) to the spatial size of the block's input, if they differ."""

    def __init__(self, mode: str = "nearest") -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x: Tensor, orig: Tensor | None = None) -> Tensor:
        orig = self._needs_orig(orig)
        if x.shape[2:] != orig.shape[2:]:
            x = F.interpolate(x, orig.shape[2:], mode=self.mode)
        return x

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


def _img_size(img_size: Any) -> tuple[int, int]:
    size = (img_size, img_size) if isinstance(img_size, int) and not isinstance(img_size, bool) else img_size
    try:
        h, w = size
    except (TypeError, ValueError):
        raise ValueError(
            f"DynamicUnet: img_size must be an int or (height, width), got {img_size!r}"
        ) from None
    if not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in (h, w)):
        raise ValueError(f"DynamicUnet: img_size must hold positive ints, got {img_size!r}")
    return h, w


def cross_connection_indices(sizes: list[torch.Size]) -> list[int]:
    """Indices of the children after which the spatial size changes (from `model_sizes` output)."""
    return [i for i in range(len(sizes) - 1) if sizes[i][2:] != sizes[i + 1][2:]]


def _check_encoder(encoder: Any) -> None:
    if not isinstance(encoder, nn.Sequential) or type(encoder).forward is not nn.Sequential.forward:
        raise TypeError(
            f"DynamicUnet: the encoder must be an nn.Sequential that runs its children in order (as "
            f"create_body returns), got {type(encoder).__name__}; wrap its layers in nn.Sequential"
        )
    conv = next((m for m in encoder.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d))), None)
    if not isinstance(conv, nn.Conv2d):
        raise ValueError("DynamicUnet: the encoder must start with a 2-d convolution (images)")


@register_class("lamina.vision.DynamicUnet")
class DynamicUnet(SequentialEx):
    """A U-Net on `encoder` with `n_out` output channels, its cross connections found for `img_size`.

    Layers: the encoder, `BatchNorm` + ReLU + a middle block of two convs (`ni -> 2 ni -> ni`), one
    `UnetBlock` per cross connection (deepest first; `self_attention` in the third from last; `blur`
    in all but the last unless `blur_final`), a final x2 `PixelShuffle_ICNR` when the shallowest
    features are smaller than `img_size`, `ResizeToOrig`, with `last_cross` the input concatenated
    and a `ResBlock` (`bottle`: its hidden width halved), a 1x1 conv to `n_out`, and with `y_range` a
    `SigmoidRange`. `act_cls`, `norm_type` and extra keywords go to the convolutions; `init`
    initialises the middle block, the blocks and the last `ResBlock`.
    """

    @delegates(ConvLayer.__init__)
    def __init__(
        self,
        encoder: nn.Module,
        n_out: int,
        img_size: ImgSize,
        blur: bool = False,
        blur_final: bool = True,
        self_attention: bool = False,
        y_range: tuple[float, float] | None = None,
        last_cross: bool = True,
        bottle: bool = False,
        act_cls: Callable[..., nn.Module] = nn.ReLU,
        init: Callable | None = nn.init.kaiming_normal_,
        norm_type: NormType | str | None = None,
        **kwargs: Any,
    ) -> None:
        _check_encoder(encoder)
        if not isinstance(n_out, int) or isinstance(n_out, bool) or n_out <= 0:
            raise ValueError(f"DynamicUnet: n_out must be a positive int, got {n_out!r}")
        size = _img_size(img_size)
        sizes = model_sizes(encoder, size)
        cross = cross_connection_indices(sizes)
        if not cross:
            raise ValueError(
                f"DynamicUnet: no child of the encoder changes the spatial size of a {size} input "
                "(so there is nothing to connect across); check the encoder and img_size"
            )
        conv_kw = dict(act_cls=act_cls, norm_type=norm_type, **kwargs)
        ni = int(sizes[-1][1])
        middle = nn.Sequential(ConvLayer(ni, ni * 2, **conv_kw), ConvLayer(ni * 2, ni, **conv_kw))
        if init is not None:
            apply_init(middle, init)
        layers: list[nn.Module] = [encoder, BatchNorm(ni), nn.ReLU(), middle]
        up_in_c = ni
        for i, idx in enumerate(reversed(cross)):
            last = i == len(cross) - 1
            block = UnetBlock(
                up_in_c,
                int(sizes[idx][1]),
                final_div=not last,
                blur=blur and (not last or blur_final),
                self_attention=self_attention and i == len(cross) - 3,
                init=init,
                **conv_kw,
            )
            layers.append(block)
            up_in_c = block.n_out
        if tuple(sizes[cross[0]][2:]) != size:
            layers.append(PixelShuffle_ICNR(up_in_c, act_cls=act_cls, norm_type=norm_type))
        layers.append(ResizeToOrig())
        if last_cross:
            layers.append(MergeLayer(dense=True))
            up_in_c += in_channels(encoder)
            res = ResBlock(1, up_in_c, up_in_c, nh2=up_in_c // 2 if bottle else None, **conv_kw)
            if init is not None:
                apply_init(res, init)
            layers.append(res)
        layers.append(ConvLayer(up_in_c, n_out, ks=1, act_cls=None, norm_type=norm_type, **kwargs))
        if y_range is not None:
            layers.append(SigmoidRange(*y_range))
        super().__init__(*layers)
        self.cross_indices = tuple(cross)
        self.n_in = in_channels(encoder)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.n_in:
            raise ValueError(
                f"DynamicUnet: expected a batch of shape (bs, {self.n_in}, height, width), got shape "
                f"{tuple(x.shape)}"
            )
        skips: list[Tensor] = []
        out = x
        for i, layer in enumerate(self.layers[0]):
            out = layer(out)
            if i in self.cross_indices:
                skips.append(out)
        for layer in self.layers[1:]:
            if isinstance(layer, UnetBlock):
                out = layer(out, skips.pop())
            elif getattr(layer, "takes_block_input", False):
                out = layer(out, x)
            else:
                out = layer(out)
        return out
