"""Language-model training speed: `LMLearner.fit` on an `LMDataLoader` against a hand-written PyTorch LSTM
loop of the same size, in training tokens per second.

Data: the first 30 articles (12 with `--quick`) of the shared Wikipedia sample (`text_sample/wiki/train`),
tokenized once with `BaseTokenizer` (split on spaces, default rules) and numericalized; random ids when the
sample is not found. Model: embedding 200, 2 LSTM layers (hidden 400, the last one back to 200), decoder tied
to the embedding; batches of 64 x 70 tokens (`--quick`: embedding 100, hidden 200, batches of 32 x 35);
Adam at lr 1e-3.

Cases:
  1. no dropout:  AWD_LSTM with every dropout 0 and no AR/TAR   vs  nn.Embedding + nn.LSTM x2 + tied Linear
  2. ULMFiT dropouts and AR/TAR (weight dropout, variational dropouts)  vs  the same plain loop (so this
     RATIO adds the price of the regularisation to that of the framework)
The plain loop batches the stream the way PyTorch's word-language-model example does (one (bs, n) tensor,
slices of seq_len), carries the hidden state between batches like the AWD_LSTM does, and uses
torch.optim.Adam. Both sides train on the same tokens (5 batches per epoch, 3 with --quick), one epoch at a
time, interleaved, after a warm-up; medians over 3 repeats give RATIO = lamina tokens/s / plain tokens/s
(>= 0.9 means the Learner, its callbacks and the loader cost less than 10%).

    python benchmarks/bench_text_lm.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lamina.core.data.loaders import DataLoaders
from lamina.core.losses import CrossEntropyLossFlat
from lamina.text.learner import LMLearner
from lamina.text.loaders import LMDataLoader
from lamina.text.models.awd_lstm import AWD_LSTM, awd_lstm_lm_split
from lamina.text.models.core import get_language_model
from lamina.text.tensors import TensorText
from lamina.text.tokenize import tokenize_texts
from lamina.text.tokenizers import BaseTokenizer
from lamina.text.vocab import Numericalize

REPO = Path(__file__).resolve().parents[1]
EMB, HID, LAYERS, BS, SEQ = 200, 400, 2, 64, 70  # --quick: 100, 200, 2, 32, 35


def corpus(max_docs: int | None) -> tuple[list[torch.Tensor], int]:
    """The documents as id tensors, and the vocabulary size."""
    root = (
        Path(os.environ.get("LAMINA_SHARED_DATA", REPO.parent / "shared" / "data")) / "text_sample" / "wiki"
    )
    files = sorted((root / "train").glob("*.txt"))[:max_docs]
    if not files:
        print(f"(no sample data at {root}: using random ids)")
        g = torch.Generator().manual_seed(0)
        return [torch.randint(9, 8000, (3000,), generator=g) for _ in range(40)], 8000
    texts = [f.read_text(encoding="utf-8") for f in files]
    docs = tokenize_texts(texts, tok=BaseTokenizer(), n_workers=0)
    num = Numericalize(min_freq=2)
    num.setup(docs)
    return [num(d).as_subclass(torch.Tensor) for d in docs], len(num.vocab)


class PlainLM(nn.Module):
    """The hand-written baseline: embedding, stacked LSTMs, decoder tied to the embedding."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, EMB)
        sizes = [EMB] + [HID] * (LAYERS - 1) + [EMB]
        self.rnns = nn.ModuleList(nn.LSTM(i, o, batch_first=True) for i, o in zip(sizes[:-1], sizes[1:]))
        self.dec = nn.Linear(EMB, vocab)
        self.dec.weight = self.emb.weight

    def forward(self, x: torch.Tensor, hidden: list | None) -> tuple[torch.Tensor, list]:
        out, new = self.emb(x), []
        for i, rnn in enumerate(self.rnns):
            out, h = rnn(out, None if hidden is None else hidden[i])
            new.append(tuple(t.detach() for t in h))
        return self.dec(out), new


def plain_epoch(model: PlainLM, opt: torch.optim.Optimizer, stream: torch.Tensor, n_batches: int) -> int:
    """Train on the first `n_batches` windows of `stream` (bs, n); returns the tokens seen."""
    model.train()
    hidden, seen = None, 0
    for k in range(n_batches):
        x = stream[:, k * SEQ : (k + 1) * SEQ]
        y = stream[:, k * SEQ + 1 : (k + 1) * SEQ + 1]
        out, hidden = model(x, hidden)
        loss = F.cross_entropy(out.reshape(-1, out.size(-1)), y.reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad()
        seen += x.numel()
    return seen


def lamina_learner(docs: list[torch.Tensor], vocab: int, dropouts: bool, n_batches: int) -> LMLearner:
    p = (0.1, 0.15, 0.25, 0.02, 0.2) if dropouts else (0.0,) * 5
    config = dict(emb_sz=EMB, n_hid=HID, n_layers=LAYERS, pad_token=1, tie_weights=True, out_bias=True)
    config.update(zip(("output_p", "hidden_p", "input_p", "embed_p", "weight_p"), p))
    dl = LMDataLoader([TensorText(d) for d in docs], bs=BS, seq_len=SEQ, shuffle=True, seed=0)
    assert dl.n_batches == n_batches, (dl.n_batches, n_batches)
    model = get_language_model(AWD_LSTM, vocab, config)
    reg = {} if dropouts else {"alpha": 0.0, "beta": 0.0}
    return LMLearner(
        DataLoaders(dl), model, loss_func=CrossEntropyLossFlat(), splitter=awd_lstm_lm_split, lr=1e-3, **reg
    )


def trim(docs: list[torch.Tensor], n_tokens: int) -> list[torch.Tensor]:
    """The first documents, the last one cut, holding exactly `n_tokens` tokens."""
    out, left = [], n_tokens
    for d in docs:
        if left <= 0:
            break
        out.append(d[:left])
        left -= len(out[-1])
    if left > 0:
        raise ValueError(f"the corpus has fewer than {n_tokens} tokens; use fewer batches")
    return out


def timed(f, *args) -> float:
    start = time.perf_counter()
    f(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer batches and repeats (~10 s)")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    global EMB, HID, BS, SEQ
    if args.quick:
        EMB, HID, BS, SEQ = 100, 200, 32, 35
    n_batches, repeats = (3, 3) if args.quick else (5, 3)
    if args.repeats:
        repeats = args.repeats
    torch.manual_seed(0)
    docs, vocab = corpus(12 if args.quick else 30)
    docs = trim(docs, BS * SEQ * n_batches + 1)  # both sides train on these tokens, n_batches per epoch
    flat = torch.cat(docs)
    stream = flat[: BS * SEQ * n_batches].view(BS, -1)
    stream = torch.cat([stream, flat[-1:].expand(BS, 1)], dim=1)  # a last target for every row
    print(f"corpus {len(flat):,} tokens, vocab {vocab:,}; {n_batches} batches of {BS} x {SEQ} per timing, "
          f"{repeats} repeats; torch {torch.__version__}, {torch.get_num_threads()} threads")  # fmt: skip
    tokens = n_batches * BS * SEQ
    for case, dropouts in (("1 no dropout", False), ("2 ULMFiT dropouts + AR/TAR", True)):
        plain = PlainLM(vocab)
        opt = torch.optim.Adam(plain.parameters(), lr=1e-3)
        learn = lamina_learner(docs, vocab, dropouts, n_batches)
        ours, theirs = [], []
        with learn.quiet():
            plain_epoch(plain, opt, stream, 1)  # warm-up both
            learn.fit(1)
            for _ in range(repeats):
                ours.append(tokens / timed(learn.fit, 1))
                theirs.append(tokens / timed(plain_epoch, plain, opt, stream, n_batches))
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"case {case}: lamina {a:,.0f} tokens/s, plain {b:,.0f} tokens/s, RATIO {a / b:.2f}")


if __name__ == "__main__":
    main()
