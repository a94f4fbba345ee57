"""Language-model and classifier models over a recurrent encoder (ULMFiT).

- `LinearDecoder`: features -> vocabulary logits, optionally tied to the encoder's embedding;
- `SequentialRNN`: `nn.Sequential` whose `reset()` resets every child that has one;
- `SentenceEncoder`: runs a stateful encoder over a long (padded) batch in chunks of `bptt` tokens;
- `masked_concat_pool` / `PoolingLinearClassifier`: last, max and mean of the unmasked outputs -> head;
- `get_language_model` / `get_text_classifier` (the `LanguageModel` / `TextClassifier` they build).

Like fastai, the heads return a tuple: `(output, raw_features, dropped_features)` for the decoder and
`(output, features, features)` for the classifier; the first element is the prediction, the others feed
activation regularisation (AR/TAR) callbacks.

Padding: `SentenceEncoder` gives a sequence the same outputs whatever padding surrounds it (in eval mode):
padding at the end is masked; padding at the start is first realigned so that each sequence starts on a
chunk boundary, and rows are only fed to the encoder from the chunk where their tokens start (new rows
start from a zero state). Rows come back in their original order.

`LanguageModel` and `TextClassifier` record the factory arguments (architecture, vocabulary size,
config...), so `module_config` describes them as data and rebuilds them with the weight tying intact.
"""

from __future__ import annotations

import inspect
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from lamina.core.layers.basic import SigmoidRange
from lamina.core.layers.linear import LinBnDrop
from lamina.core.layers.recorded import RecordedInit
from lamina.core.plugins.registry import register_class
from lamina.text.models.awd_lstm import (
    AWD_LSTM,
    awd_lstm_clas_config,
    awd_lstm_clas_split,
    awd_lstm_lm_config,
    awd_lstm_lm_split,
)
from lamina.text.models.dropout import RNNDropout

__all__ = [
    "TEXT_MODEL_META",
    "LinearDecoder",
    "SequentialRNN",
    "SentenceEncoder",
    "masked_concat_pool",
    "PoolingLinearClassifier",
    "LanguageModel",
    "TextClassifier",
    "get_language_model",
    "get_text_classifier",
]

TEXT_MODEL_META: dict[type, dict[str, Any]] = {
    AWD_LSTM: {
        "hid_name": "emb_sz",
        "config_lm": awd_lstm_lm_config,
        "config_clas": awd_lstm_clas_config,
        "split_lm": awd_lstm_lm_split,
        "split_clas": awd_lstm_clas_split,
    }
}
"""What the factories need to know about an encoder class: the name of its output-size argument, its
default language-model / classifier configs and parameter splits. Add an entry to use another encoder."""


@register_class("lamina.text.LinearDecoder")
class LinearDecoder(RecordedInit, nn.Module):
    """`RNNDropout(output_p)` then a linear layer `n_hid -> n_out`; `tie_encoder` (an embedding of shape
    `(n_out, n_hid)`) shares its weight with the linear layer."""

    initrange = 0.1

    def __init__(
        self,
        n_out: int,
        n_hid: int,
        output_p: float = 0.1,
        tie_encoder: nn.Module | None = None,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.decoder = nn.Linear(n_hid, n_out, bias=bias)
        with torch.no_grad():
            self.decoder.weight.uniform_(-self.initrange, self.initrange)
            if bias:
                self.decoder.bias.zero_()
        self.output_dp = RNNDropout(output_p)
        if tie_encoder is not None:
            weight = getattr(tie_encoder, "weight", None)
            if not isinstance(weight, nn.Parameter) or tuple(weight.shape) != (n_out, n_hid):
                shape = None if weight is None else tuple(weight.shape)
                raise ValueError(
                    f"LinearDecoder: tie_encoder's weight must have shape {(n_out, n_hid)}, got {shape}"
                )
            self.decoder.weight = weight

    def forward(self, input: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        dropped = self.output_dp(input)
        return self.decoder(dropped), input, dropped


@register_class("lamina.text.SequentialRNN")
class SequentialRNN(RecordedInit, nn.Sequential):
    """An `nn.Sequential` whose `reset()` calls `reset()` on each child that has one."""

    def reset(self) -> None:
        for child in self.children():
            reset = getattr(child, "reset", None)
            if callable(reset):
                reset()


def _realign(inp: Tensor, pad_idx: int, bptt: int) -> tuple[Tensor, Tensor]:
    """Shift each row left so its leading padding is a multiple of `bptt` (the remainder moves to the end).

    Returns the realigned ids and, per row, the chunk where its tokens start (past the end for an all-pad
    row).
    """
    bs, sl = inp.shape
    real = inp != pad_idx
    any_real = real.any(dim=1)
    lead = torch.where(any_real, real.int().argmax(dim=1), torch.full_like(any_real, sl, dtype=torch.long))
    shift = torch.where(any_real, lead % bptt, torch.zeros_like(lead))
    if bool((shift != 0).any()):
        idx = torch.arange(sl, device=inp.device).unsqueeze(0) + shift.unsqueeze(1)
        inp = torch.gather(inp, 1, idx.clamp(max=sl - 1)).masked_fill(idx >= sl, pad_idx)
    start_chunk = torch.where(any_real, (lead - shift) // bptt, torch.full_like(lead, sl + 1))
    return inp, start_chunk


@register_class("lamina.text.SentenceEncoder")
class SentenceEncoder(RecordedInit, nn.Module):
    """Run the stateful `module` over `(batch, seq_len)` ids in chunks of `bptt` tokens.

    Returns `(outputs, mask)`: the encoder's outputs `(batch, seq_len, features)` (zeros where a row had not
    started yet) and the padding mask `(batch, seq_len)` (True at padding), both in the realigned layout
    described in the module docstring. With `max_len`, only the outputs of the chunks that start within the
    last `max_len` positions are returned (the state still runs through the whole text).
    """

    def __init__(self, bptt: int, module: nn.Module, pad_idx: int = 1, max_len: int | None = None) -> None:
        super().__init__()
        if isinstance(bptt, bool) or not isinstance(bptt, int) or bptt < 1:
            raise ValueError(f"SentenceEncoder: bptt must be a positive int, got {bptt!r}")
        self.bptt, self.module, self.pad_idx, self.max_len = bptt, module, pad_idx, max_len

    def reset(self) -> None:
        reset = getattr(self.module, "reset", None)
        if callable(reset):
            reset()

    def forward(self, input: Tensor) -> tuple[Tensor, Tensor]:
        if not isinstance(input, Tensor) or input.dim() != 2:
            raise ValueError(
                "SentenceEncoder expects token ids of shape (batch, seq_len), "
                f"got {getattr(input, 'shape', type(input).__name__)}"
            )
        bs, sl = input.shape
        aligned, start_chunk = _realign(input, self.pad_idx, self.bptt)
        order = torch.argsort(start_chunk, stable=True)  # rows that start earlier first
        aligned = aligned[order]
        starts = sorted(start_chunk.tolist())
        mask = aligned == self.pad_idx
        self.reset()
        pieces: list[Tensor | int] = []  # an output chunk, or the width of a chunk where no row has started
        masks = []
        for k, i in enumerate(range(0, sl, self.bptt)):
            n_active = bisect_right(starts, k)
            chunk = aligned[:n_active, i : i + self.bptt]
            piece = _pad_rows(self.module(chunk), bs) if n_active else chunk.size(1)
            if self.max_len is None or sl - i <= self.max_len:
                pieces.append(piece)
                masks.append(mask[:, i : i + self.bptt])
        template = next((p for p in pieces if isinstance(p, Tensor)), None)
        if template is None:  # every row is padding: only the feature size matters
            template = self.module(aligned[:, :1])
        out = torch.cat(
            [p if isinstance(p, Tensor) else template.new_zeros(bs, p, template.size(2)) for p in pieces],
            dim=1,
        )
        inverse = torch.argsort(order)
        return out[inverse], torch.cat(masks, dim=1)[inverse]


def _pad_rows(o: Tensor, bs: int) -> Tensor:
    """`o` with zero rows appended up to `bs` rows."""
    if o.size(0) == bs:
        return o
    return torch.cat([o, o.new_zeros(bs - o.size(0), *o.shape[1:])], dim=0)


def masked_concat_pool(output: Tensor, mask: Tensor, bptt: int | None = None) -> Tensor:
    """`[last, max, mean]` of the unmasked steps of `output` (batch, seq_len, features): (batch, 3 * feats).

    `mask` is True at padding. "Last" is the output at each row's last unmasked position, found from the
    mask (so any padding layout works; `bptt` is accepted for fastai compatibility and not needed). A row
    with no unmasked step pools to zeros.
    """
    if output.dim() != 3 or mask.shape != output.shape[:2]:
        raise ValueError(
            f"masked_concat_pool: output (batch, seq_len, features) and mask (batch, seq_len) do not match: "
            f"{tuple(output.shape)} vs {tuple(mask.shape)}"
        )
    keep = ~mask
    lens = keep.sum(dim=1)
    has = (lens > 0).unsqueeze(1)
    avg = output.masked_fill(mask.unsqueeze(2), 0).sum(dim=1) / lens.clamp(min=1).unsqueeze(1).to(
        output.dtype
    )
    mx = output.masked_fill(mask.unsqueeze(2), float("-inf")).max(dim=1).values
    positions = torch.arange(1, output.size(1) + 1, device=output.device)
    last_idx = (keep * positions).argmax(dim=1)
    last = output[torch.arange(output.size(0), device=output.device), last_idx]
    zeros = torch.zeros_like(avg)
    return torch.cat([torch.where(has, last, zeros), torch.where(has, mx, zeros), avg], dim=1)


@register_class("lamina.text.PoolingLinearClassifier")
class PoolingLinearClassifier(RecordedInit, nn.Module):
    """`masked_concat_pool` then `LinBnDrop` layers of sizes `dims` (ReLU between, dropouts `ps`), then
    `SigmoidRange(*y_range)` if given. `dims[0]` must be 3 x the encoder's features."""

    def __init__(
        self, dims: Sequence[int], ps: Sequence[float], bptt: int, y_range: tuple[float, float] | None = None
    ) -> None:
        super().__init__()
        dims, ps = list(dims), list(ps)
        if len(dims) < 2 or len(ps) != len(dims) - 1:
            raise ValueError(
                f"PoolingLinearClassifier: {len(dims)} sizes need {len(dims) - 1} dropout values, "
                f"got {len(ps)} ({ps})"
            )
        acts = [nn.ReLU(inplace=True) for _ in range(len(dims) - 2)] + [None]
        layers: list[nn.Module] = [
            LinBnDrop(i, o, p=p, act=a) for i, o, p, a in zip(dims[:-1], dims[1:], ps, acts)
        ]
        if y_range is not None:
            layers.append(SigmoidRange(*y_range))
        self.layers = nn.Sequential(*layers)
        self.bptt = bptt

    def forward(self, input: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        out, mask = input
        x = masked_concat_pool(out, mask, self.bptt)
        return self.layers(x), out, out


def _meta(arch: Callable) -> dict[str, Any]:
    try:
        return TEXT_MODEL_META[arch]
    except (KeyError, TypeError):
        raise KeyError(
            f"no text model meta for {getattr(arch, '__qualname__', arch)!r}: "
            "add an entry to TEXT_MODEL_META "
            f"(known: {[a.__name__ for a in TEXT_MODEL_META]})"
        ) from None


def _scaled(config: dict, drop_mult: float) -> dict:
    return {k: v * drop_mult if k.endswith("_p") else v for k, v in config.items()}


def _hidden_size(arch: Callable, config: dict, name: str) -> int:
    if name in config:
        return config[name]
    default = inspect.signature(arch).parameters.get(name)
    if default is None or default.default is inspect.Parameter.empty:
        raise KeyError(f"the config of {arch.__name__} must give {name!r}")
    return default.default


def _build(arch: Callable, vocab_sz: int, config: dict) -> nn.Module:
    try:
        return arch(vocab_sz, **config)
    except TypeError as e:
        raise TypeError(f"building {getattr(arch, '__name__', arch)} from the config {config}: {e}") from e


@register_class("lamina.text.LanguageModel")
class LanguageModel(SequentialRNN):
    """`SequentialRNN(encoder, LinearDecoder)`, built from an architecture and a config (what
    `get_language_model` returns). `config` keys beyond the encoder's arguments: `tie_weights`,
    `output_p`, `out_bias` and an optional `init` function applied to the whole model."""

    def __init__(
        self, arch: Callable, vocab_sz: int, config: dict | None = None, drop_mult: float = 1.0
    ) -> None:
        meta = _meta(arch)
        cfg = _scaled(dict(meta["config_lm"] if config is None else config), drop_mult)
        tie_weights, output_p = cfg.pop("tie_weights", True), cfg.pop("output_p", 0.1)
        out_bias, init = cfg.pop("out_bias", True), cfg.pop("init", None)
        encoder = _build(arch, vocab_sz, cfg)
        n_hid = _hidden_size(arch, cfg, meta["hid_name"])
        tie = encoder.encoder if tie_weights else None
        super().__init__(encoder, LinearDecoder(vocab_sz, n_hid, output_p, tie_encoder=tie, bias=out_bias))
        if init is not None:
            self.apply(init)


@register_class("lamina.text.TextClassifier")
class TextClassifier(SequentialRNN):
    """`SequentialRNN(SentenceEncoder(encoder), PoolingLinearClassifier)`, built from an architecture and
    a config (what `get_text_classifier` returns)."""

    def __init__(
        self,
        arch: Callable,
        vocab_sz: int,
        n_class: int,
        seq_len: int = 72,
        config: dict | None = None,
        drop_mult: float = 1.0,
        lin_ftrs: Sequence[int] | None = None,
        ps: Sequence[float] | None = None,
        pad_idx: int = 1,
        max_len: int | None = 72 * 20,
        y_range: tuple[float, float] | None = None,
    ) -> None:
        meta = _meta(arch)
        cfg = _scaled(dict(meta["config_clas"] if config is None else config), drop_mult)
        lin_ftrs = [50] if lin_ftrs is None else list(lin_ftrs)
        ps = [0.1] * len(lin_ftrs) if ps is None else list(ps)
        if len(ps) != len(lin_ftrs):
            raise ValueError(
                f"get_text_classifier: {len(lin_ftrs)} lin_ftrs need {len(lin_ftrs)} ps, got {ps}"
            )
        output_p, init = cfg.pop("output_p", 0.4), cfg.pop("init", None)
        n_hid = _hidden_size(arch, cfg, meta["hid_name"])
        dims = [n_hid * 3, *lin_ftrs, n_class]
        encoder = SentenceEncoder(seq_len, _build(arch, vocab_sz, cfg), pad_idx=pad_idx, max_len=max_len)
        super().__init__(
            encoder, PoolingLinearClassifier(dims, [output_p, *ps], bptt=seq_len, y_range=y_range)
        )
        if init is not None:
            self.apply(init)


def get_language_model(
    arch: Callable, vocab_sz: int, config: dict | None = None, drop_mult: float = 1.0
) -> LanguageModel:
    """A language model: `arch` encoder (config: `TEXT_MODEL_META[arch]['config_lm']` by default, every
    `*_p` scaled by `drop_mult`) and a `LinearDecoder` tied to its embedding."""
    return LanguageModel(arch, vocab_sz, config, drop_mult)


def get_text_classifier(
    arch: Callable,
    vocab_sz: int,
    n_class: int,
    seq_len: int = 72,
    config: dict | None = None,
    drop_mult: float = 1.0,
    lin_ftrs: Sequence[int] | None = None,
    ps: Sequence[float] | None = None,
    pad_idx: int = 1,
    max_len: int | None = 72 * 20,
    y_range: tuple[float, float] | None = None,
) -> TextClassifier:
    """A classifier: `SentenceEncoder(seq_len, arch encoder)` then a `PoolingLinearClassifier` with hidden
    sizes `lin_ftrs` (default `[50]`), dropouts `ps` (default 0.1 each; `output_p` of the config first)."""
    return TextClassifier(
        arch, vocab_sz, n_class, seq_len, config, drop_mult, lin_ftrs, ps, pad_idx, max_len, y_range
    )
