"""Collab training speed: `collab_learner(...).fit` against a hand-written PyTorch loop, in rows per second.

Data: the real MovieLens sample (`ratings_sample/ratings.csv`, 6,031 ratings) when the shared data is
found, else GENERATED ratings (`synthetic_ratings`), repeated so that an epoch has enough batches to time
(60k ratings; with --quick 12k for batches of 64 and 30k for batches of 1024). Both sides train the same
model (`EmbeddingDotBias`, 50 factors, y_range (0, 5.5)) on the same processed tensors with the same batch
size, shuffling every epoch, for one epoch of training only (no validation set):

- Lamina: `CollabDataLoaders.from_df(..., valid_pct=0)` + `collab_learner` + `learn.fit(1, 5e-3)` with its
  default callbacks (Recorder, progress without a bar) and optimizer (Lamina's `Adam`, decoupled wd 0.01).
- plain PyTorch: `randperm` + slicing the same index and rating tensors, `F.mse_loss`, `backward`,
  `torch.optim.AdamW` (betas (0.9, 0.99), eps 1e-5, wd 0.01, foreach), `zero_grad`; the loss is read with
  `.item()` each batch, as a loop that reports its loss does (the Recorder reads it too).

Each side runs one epoch at a time, interleaved, after a warm-up epoch; RATIO = median Lamina epoch time /
median plain epoch time (target <= 1.1). Rows/second = training rows / median epoch time. For reference a
third side, the same plain loop stepping Lamina's `Adam` instead of `torch.optim.AdamW`, separates the
Learner's own overhead (ratio "vs the same optimizer") from the optimizer's speed.

    python benchmarks/bench_collab.py [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from lamina.collab.data import CollabDataLoaders
from lamina.collab.demo import synthetic_ratings
from lamina.collab.learner import collab_learner
from lamina.collab.models import EmbeddingDotBias
from lamina.core.optim.optimizers import Adam

REPO = Path(__file__).resolve().parents[1]
TARGET = 1.1


def load_ratings(copies: int) -> tuple[pd.DataFrame, str]:
    csv = Path(os.environ.get("LAMINA_SHARED_DATA", REPO.parent / "shared" / "data")) / "ratings_sample"
    csv = csv / "ratings.csv"
    if csv.exists():
        ratings, source = pd.read_csv(csv), "MovieLens sample (real)"
    else:
        ratings, source = synthetic_ratings(), "GENERATED ratings (no shared data found)"
    return pd.concat([ratings] * copies, ignore_index=True), f"{source} x{copies}"


class PlainLoop:
    """The hand-written baseline: the usual PyTorch epoch over index tensors."""

    def __init__(
        self, model: EmbeddingDotBias, x: torch.Tensor, y: torch.Tensor, bs: int, lr: float, opt=None
    ):
        self.model, self.x, self.y, self.bs = model, x, y, bs
        self.opt = opt or torch.optim.AdamW(
            model.parameters(), lr=lr, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01, foreach=True
        )

    def epoch(self) -> float:
        self.model.train()
        order = torch.randperm(len(self.x))
        n_batches = len(self.x) // self.bs  # drop the last partial batch, as the shuffled loader does
        total = 0.0
        for i in range(n_batches):
            idx = order[i * self.bs : (i + 1) * self.bs]
            loss = F.mse_loss(self.model(self.x[idx]), self.y[idx])
            loss.backward()
            self.opt.step()
            self.opt.zero_grad()
            total += loss.item()
        return total / n_batches


def run_case(ratings: pd.DataFrame, bs: int, repeats: int) -> float:
    torch.manual_seed(0)
    dls = CollabDataLoaders.from_df(ratings, valid_pct=0.0, bs=bs, seed=0)
    learn = collab_learner(dls, n_factors=50, y_range=(0, 5.5), lr=5e-3)
    learn.progress.show_bar = False
    learn.logger = lambda row: None
    tensors = dls.train.tensors
    plain_model = EmbeddingDotBias(
        50, len(dls.classes["userId"]), len(dls.classes["movieId"]), y_range=(0, 5.5)
    )
    plain = PlainLoop(plain_model, tensors.cats, tensors.ys[:, 0], bs, 5e-3)
    same_model = EmbeddingDotBias(
        50, len(dls.classes["userId"]), len(dls.classes["movieId"]), y_range=(0, 5.5)
    )
    same_opt = PlainLoop(
        same_model, tensors.cats, tensors.ys[:, 0], bs, 5e-3, Adam(list(same_model.parameters()), 5e-3)
    )
    n_rows = len(dls.train) * bs

    def learner_epoch() -> None:
        learn.fit(1)

    learner_epoch()  # warm-up (also creates the optimizer)
    plain.epoch()
    same_opt.epoch()
    t_learn, t_plain, t_same = [], [], []
    for i in range(repeats):
        sides = [(t_learn, learner_epoch), (t_plain, plain.epoch), (t_same, same_opt.epoch)]
        for times, f in sides if i % 2 == 0 else sides[::-1]:
            start = time.perf_counter()
            f()
            times.append(time.perf_counter() - start)
    m_learn, m_plain = statistics.median(t_learn), statistics.median(t_plain)
    ratio = m_learn / m_plain
    print(f"batch size {bs}: {n_rows} training rows per epoch, {len(dls.train)} batches")
    sides = (
        ("collab_learner.fit", t_learn),
        ("plain PyTorch loop", t_plain),
        ("plain + Lamina Adam", t_same),
    )
    for label, times in sides:
        med = statistics.median(times)
        runs = ", ".join(f"{t * 1000:.0f}" for t in times)
        print(f"  {label}  median {med * 1000:7.1f} ms/epoch  {n_rows / med:9.0f} rows/s  ({runs})")
    ok = "ok" if ratio <= TARGET else "ABOVE TARGET"
    print(
        f"  RATIO {ratio:.3f}  (target <= {TARGET}: {ok});  ratio of minima {min(t_learn) / min(t_plain):.3f}"
    )
    print(f"  Learner overhead vs the same optimizer: {m_learn / statistics.median(t_same):.3f}")
    return ratio


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--quick", action="store_true", help="fewer rows and repeats (under 10 s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: small model)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    repeats = 3 if args.quick else 7
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} thread(s); {repeats} repeats per side (medians)")
    for bs, copies in ((64, 2), (1024, 5)) if args.quick else ((64, 10), (1024, 10)):
        ratings, source = load_ratings(copies)
        print(f"\n{source}: {len(ratings)} ratings")
        run_case(ratings, bs, repeats)


if __name__ == "__main__":
    sys.exit(main())
