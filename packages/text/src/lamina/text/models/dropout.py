"""The AWD-LSTM dropouts (Merity et al., 2017): `RNNDropout`, `EmbeddingDropout`, `WeightDropout`.

`WeightDropout` is DropConnect on the hidden-to-hidden weights of an `nn.LSTM`, written with public
PyTorch only: in training, each forward draws a dropped copy of the raw weight (`F.dropout`) and runs the
LSTM with it through `torch.func.functional_call`, which swaps the tensor in for that one call (the LSTM
notices the swapped weight and re-flattens its weights for the call). The raw `nn.Parameter` is never
modified, stays the LSTM's own parameter (same `state_dict` keys as a plain LSTM, `module.weight_hh_l0`)
and receives the gradient through the dropout. In eval mode the LSTM runs untouched.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn
from torch.func import functional_call
from torch.nn import functional as F

from lamina.core.layers.recorded import RecordedInit
from lamina.core.plugins.registry import register_class

__all__ = ["RNNDropout", "EmbeddingDropout", "WeightDropout", "dropout_mask"]

_CUDNN_COMPACT_WARNING = "RNN module weights are not part of single contiguous chunk of memory"


def _check_p(owner: str, name: str, p: float) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
        raise ValueError(f"{owner}: {name} must be a probability in [0, 1), got {p!r}")
    return float(p)


def dropout_mask(x: Tensor, size: Sequence[int], p: float) -> Tensor:
    """A mask of `size` (dtype and device of `x`): 0 with probability `p`, else `1 / (1 - p)`."""
    return x.new_empty(size).bernoulli_(1 - p).div_(1 - p)


@register_class("lamina.text.RNNDropout")
class RNNDropout(RecordedInit, nn.Module):
    """Variational dropout on `(batch, seq_len, features)`: one mask per sequence, shared by every step."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = _check_p("RNNDropout", "p", p)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        if x.dim() < 3:
            raise ValueError(f"RNNDropout expects (batch, seq_len, features), got shape {tuple(x.shape)}")
        return x * dropout_mask(x, (x.size(0), 1, *x.shape[2:]), self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


@register_class("lamina.text.EmbeddingDropout")
class EmbeddingDropout(RecordedInit, nn.Module):
    """Word dropout on `emb`: in training, whole rows of the embedding matrix (words) are zeroed with
    probability `embed_p` and the others scaled by `1 / (1 - embed_p)`, one mask per forward."""

    def __init__(self, emb: nn.Embedding, embed_p: float) -> None:
        super().__init__()
        if not isinstance(emb, nn.Embedding):
            raise TypeError(f"EmbeddingDropout: emb must be an nn.Embedding, got {type(emb).__name__}")
        self.emb, self.embed_p = emb, _check_p("EmbeddingDropout", "embed_p", embed_p)

    def forward(self, words: Tensor, scale: float | None = None) -> Tensor:
        weight = self.emb.weight
        if self.training and self.embed_p != 0:
            weight = weight * dropout_mask(weight, (weight.size(0), 1), self.embed_p)
        if scale is not None:
            weight = weight * scale
        e = self.emb
        return F.embedding(
            words, weight, e.padding_idx, e.max_norm, e.norm_type, e.scale_grad_by_freq, e.sparse
        )

    def extra_repr(self) -> str:
        return f"embed_p={self.embed_p}"


@register_class("lamina.text.WeightDropout")
class WeightDropout(RecordedInit, nn.Module):
    """DropConnect with probability `weight_p` on the weights `layer_names` of `module` (see the module
    docstring)."""

    def __init__(
        self, module: nn.Module, weight_p: float, layer_names: str | Sequence[str] = ("weight_hh_l0",)
    ) -> None:
        super().__init__()
        self.module, self.weight_p = module, _check_p("WeightDropout", "weight_p", weight_p)
        self.layer_names = (layer_names,) if isinstance(layer_names, str) else tuple(layer_names)
        own = dict(module.named_parameters(recurse=False))
        for name in self.layer_names:
            if name not in own:
                raise ValueError(
                    f"WeightDropout: {type(module).__name__} has no parameter {name!r}; "
                    f"its parameters are {list(own)}"
                )

    def dropped_weights(self) -> dict[str, Tensor]:
        """A fresh dropped copy of each weight in `layer_names`."""
        return {n: F.dropout(getattr(self.module, n), self.weight_p, training=True) for n in self.layer_names}

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if not self.training or self.weight_p == 0:
            return self.module(*args, **kwargs)
        weights = self.dropped_weights()
        if next(
            iter(weights.values())
        ).is_cuda:  # cuDNN warns that the swapped weight is not in its flat buffer
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_CUDNN_COMPACT_WARNING)
                return functional_call(self.module, weights, args, kwargs)
        return functional_call(self.module, weights, args, kwargs)

    def reset(self) -> None:
        """Reset the wrapped module's state, if it has a `reset`."""
        reset = getattr(self.module, "reset", None)
        if callable(reset):
            reset()

    def extra_repr(self) -> str:
        return f"weight_p={self.weight_p}, layer_names={self.layer_names}"
