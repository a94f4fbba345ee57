"""AWD-LSTM (Merity et al., 2017), the encoder of ULMFiT, with its configurations and parameter splits.

A stack of `n_layers` one-layer LSTMs over an embedding: embedding dropout on the words (`embed_p`),
variational dropout on the embedded input (`input_p`) and between layers (`hidden_p`), DropConnect on
each LSTM's hidden-to-hidden weights (`weight_p`). The last layer outputs `emb_sz` features (so a language
model can tie its decoder to the embedding); the others `n_hid`.

Stateful, as truncated back-propagation through time needs: the hidden state of the last batch is kept
(detached) and continues into the next call. `reset()` zeroes it (call it between unrelated texts). A
batch of another size keeps the state of the first rows and starts new rows from zeros.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lamina.core.layers.recorded import RecordedInit
from lamina.core.plugins.registry import register_class
from lamina.text.models.dropout import EmbeddingDropout, RNNDropout, WeightDropout

__all__ = [
    "AWD_LSTM",
    "awd_lstm_lm_config",
    "awd_lstm_clas_config",
    "awd_lstm_lm_split",
    "awd_lstm_clas_split",
]

awd_lstm_lm_config: dict = dict(
    emb_sz=400, n_hid=1152, n_layers=3, pad_token=1, bidir=False, output_p=0.1,
    hidden_p=0.15, input_p=0.25, embed_p=0.02, weight_p=0.2, tie_weights=True, out_bias=True,
)  # fmt: skip
"""ULMFiT's AWD-LSTM language-model settings (for `get_language_model`)."""

awd_lstm_clas_config: dict = dict(
    emb_sz=400, n_hid=1152, n_layers=3, pad_token=1, bidir=False, output_p=0.4,
    hidden_p=0.3, input_p=0.4, embed_p=0.05, weight_p=0.5,
)  # fmt: skip
"""ULMFiT's AWD-LSTM classifier settings (for `get_text_classifier`)."""

State = tuple[Tensor, Tensor]


@register_class("lamina.text.AWD_LSTM")
class AWD_LSTM(RecordedInit, nn.Module):
    """The AWD-LSTM encoder: `(batch, seq_len)` token ids -> `(batch, seq_len, emb_sz)` features."""

    initrange = 0.1

    def __init__(
        self,
        vocab_sz: int,
        emb_sz: int = 400,
        n_hid: int = 1152,
        n_layers: int = 3,
        pad_token: int = 1,
        hidden_p: float = 0.3,
        input_p: float = 0.4,
        embed_p: float = 0.1,
        weight_p: float = 0.5,
        bidir: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (
            ("vocab_sz", vocab_sz),
            ("emb_sz", emb_sz),
            ("n_hid", n_hid),
            ("n_layers", n_layers),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"AWD_LSTM: {name} must be a positive int, got {value!r}")
        self.n_dir = 2 if bidir else 1
        if bidir and (emb_sz % 2 or n_hid % 2):
            raise ValueError(f"AWD_LSTM(bidir=True): emb_sz ({emb_sz}) and n_hid ({n_hid}) must be even")
        self.vocab_sz, self.emb_sz, self.n_hid, self.n_layers = vocab_sz, emb_sz, n_hid, n_layers
        self.pad_token, self.bs = pad_token, 1
        self.encoder = nn.Embedding(vocab_sz, emb_sz, padding_idx=pad_token)
        self.encoder_dp = EmbeddingDropout(self.encoder, embed_p)
        names = ["weight_hh_l0", "weight_hh_l0_reverse"] if bidir else ["weight_hh_l0"]
        self.rnns = nn.ModuleList(
            WeightDropout(
                nn.LSTM(
                    emb_sz if i == 0 else n_hid, self._n_out(i), 1, batch_first=True, bidirectional=bidir
                ),
                weight_p,
                names,
            )
            for i in range(n_layers)
        )
        with torch.no_grad():
            self.encoder.weight.uniform_(-self.initrange, self.initrange)
        self.input_dp = RNNDropout(input_p)
        self.hidden_dps = nn.ModuleList(RNNDropout(hidden_p) for _ in range(n_layers))
        self.reset()

    def _n_out(self, layer: int) -> int:
        """Features per direction out of `layer`."""
        return (self.n_hid if layer != self.n_layers - 1 else self.emb_sz) // self.n_dir

    # ---- hidden state -------------------------------------------------------------------------------
    def _zeros(self, layer: int, bs: int) -> State:
        w = self.encoder.weight
        h = w.new_zeros(self.n_dir, bs, self._n_out(layer))
        return h, h.clone()

    def reset(self) -> None:
        """Zero the hidden state (keeping the current batch size)."""
        self.hidden: list[State] = [self._zeros(i, self.bs) for i in range(self.n_layers)]

    def _change_hidden(self, bs: int) -> None:
        """Keep the state of the first `bs` rows; rows beyond the old batch size start from zeros."""
        new = []
        for i, (h, c) in enumerate(self.hidden):
            if bs < self.bs:
                h, c = h[:, :bs].contiguous(), c[:, :bs].contiguous()
            else:
                zh, zc = self._zeros(i, bs - self.bs)
                h, c = torch.cat([h, zh], dim=1), torch.cat([c, zc], dim=1)
            new.append((h, c))
        self.hidden, self.bs = new, bs

    def _check_input(self, inp: Tensor, from_embeds: bool) -> tuple[int, int]:
        if not isinstance(inp, Tensor):
            raise TypeError(f"AWD_LSTM expects a tensor of token ids, got {type(inp).__name__}")
        if from_embeds:
            if inp.dim() != 3 or inp.size(2) != self.emb_sz:
                raise ValueError(
                    f"AWD_LSTM(from_embeds=True) expects (batch, seq_len, {self.emb_sz}), "
                    f"got {tuple(inp.shape)}"
                )
        else:
            if inp.dim() != 2:
                raise ValueError(
                    f"AWD_LSTM expects token ids of shape (batch, seq_len), got shape {tuple(inp.shape)}"
                )
            if inp.dtype.is_floating_point or inp.dtype.is_complex or inp.dtype == torch.bool:
                raise TypeError(f"AWD_LSTM expects integer token ids, got dtype {inp.dtype}")
            if inp.device.type == "cpu" and inp.numel():  # on an accelerator this check would cost a sync
                lo, hi = int(inp.min()), int(inp.max())
                if lo < 0 or hi >= self.vocab_sz:
                    raise IndexError(
                        f"AWD_LSTM: token id {lo if lo < 0 else hi} is outside the vocab "
                        f"(size {self.vocab_sz})"
                    )
        if inp.size(1) == 0:
            raise ValueError("AWD_LSTM: the sequences are empty (seq_len 0)")
        return inp.size(0), inp.size(1)

    # ---- forward ------------------------------------------------------------------------------------
    def forward(self, inp: Tensor, from_embeds: bool = False) -> Tensor:
        bs, _ = self._check_input(inp, from_embeds)
        if bs != self.bs:
            self._change_hidden(bs)
        w = self.encoder.weight
        if self.hidden[0][0].device != w.device or self.hidden[0][0].dtype != w.dtype:
            self.hidden = [(h.to(w), c.to(w)) for h, c in self.hidden]  # the model moved since the last call
        output = self.input_dp(inp if from_embeds else self.encoder_dp(inp))
        new_hidden = []
        for i, (rnn, hid_dp) in enumerate(zip(self.rnns, self.hidden_dps)):
            output, state = rnn(output, self.hidden[i])
            new_hidden.append(state)
            if i != self.n_layers - 1:
                output = hid_dp(output)
        self.hidden = [(h.detach(), c.detach()) for h, c in new_hidden]
        return output


def _params(*modules: nn.Module) -> list[nn.Parameter]:
    return list(nn.ModuleList(modules).parameters())  # each parameter once (a tied weight included)


def awd_lstm_lm_split(model: nn.Module) -> list[list[nn.Parameter]]:
    """Parameter groups of an AWD-LSTM language model: one per LSTM layer, then embedding + decoder."""
    enc, dec = model[0], model[1]
    groups = [_params(rnn, dp) for rnn, dp in zip(enc.rnns, enc.hidden_dps)]
    return groups + [_params(enc.encoder, enc.encoder_dp, dec)]


def awd_lstm_clas_split(model: nn.Module) -> list[list[nn.Parameter]]:
    """Parameter groups of an AWD-LSTM classifier: embedding, one per LSTM layer, then the head."""
    enc = model[0].module
    groups = [_params(enc.encoder, enc.encoder_dp)]
    groups += [_params(rnn, dp) for rnn, dp in zip(enc.rnns, enc.hidden_dps)]
    return groups + [_params(model[1])]
