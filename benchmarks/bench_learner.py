"""Learner overhead: `Learner.fit` against a hand-written PyTorch training loop, same MLP, data and optimizer.

Data: the MNIST sample PNGs (3000 train / 1000 valid) as tensors (random tensors of the same shapes when
the sample data is not found). Model: the MLP of the Learner tests (784-256-256-10, dropout). Optimizer:
Lamina's `Adam` on both sides (biases exempt from weight decay on both, as the Learner's default
`wd_bn_bias=False` does), batches of 64 from the same torch loaders. One epoch = all training batches
(forward, loss, backward, step, zero_grad) then a validation pass (loss, and accuracy in case 2).

Cases:
  1. default callbacks (TrainEval, Recorder, Progress), no bar, no metric  vs  loop with validation loss
  2. progress bar on (output to /dev/null) and the `accuracy` metric      vs  loop with loss and accuracy
Each side runs one epoch at a time, interleaved, after a warm-up epoch; the medians over the repeats give
RATIO = learner / plain (targets: case 1 <= 1.05, case 2 <= 1.10).

    python benchmarks/bench_learner.py [--quick] [--device cuda] [--cpu-time]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import BatchSampler, RandomSampler, SequentialSampler, TensorDataset
from torch.utils.data import DataLoader as TorchDataLoader

from lamina.core.data.loaders import DataLoaders
from lamina.core.learner.learner import Learner
from lamina.core.learner.params import norm_bias_params
from lamina.core.metrics import accuracy
from lamina.core.optim.optimizers import Adam

REPO = Path(__file__).resolve().parents[1]
BS = 64


def load_data(n_train: int, n_valid: int) -> tuple[torch.Tensor, ...]:
    root = Path(os.environ.get("LAMINA_SHARED_DATA", REPO.parent / "shared" / "data")) / "mnist_sample"
    if not (root / "labels.csv").exists():
        print(f"(no sample data at {root}: using random tensors of the same shapes)")
        g = torch.Generator().manual_seed(0)
        return (
            torch.rand(n_train, 784, generator=g),
            torch.randint(0, 10, (n_train,), generator=g),
            torch.rand(n_valid, 784, generator=g),
            torch.randint(0, 10, (n_valid,), generator=g),
        )
    from PIL import Image

    with open(root / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for split, n in (("train", n_train), ("valid", n_valid)):
        items = [r for r in rows if r["name"].startswith(split + "/")]
        keep = np.random.default_rng(0).permutation(len(items))[:n]  # all digits, also in --quick
        items = [items[i] for i in sorted(keep)]
        x = np.stack([np.asarray(Image.open(root / r["name"])) for r in items]).reshape(len(items), -1)
        out += [torch.from_numpy(x).float() / 255, torch.tensor([int(r["label"]) for r in items])]
    return tuple(out)


def batch_loader(x: torch.Tensor, y: torch.Tensor, shuffle: bool) -> TorchDataLoader:
    """Whole batches by index lists (no per-item collation), as a plain torch DataLoader."""
    ds = TensorDataset(x, y)
    sampler = RandomSampler(ds) if shuffle else SequentialSampler(ds)
    return TorchDataLoader(ds, batch_size=None, sampler=BatchSampler(sampler, BS, drop_last=shuffle))


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(784, 256),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Linear(256, 256),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Linear(256, 10),
    )


class PlainLoop:
    """The hand-written baseline: the usual PyTorch epoch."""

    def __init__(self, model: nn.Module, train: TorchDataLoader, valid: TorchDataLoader, with_accuracy: bool):
        self.model, self.train, self.valid, self.with_accuracy = model, train, valid, with_accuracy
        self.opt = Adam(list(model.parameters()), lr=1e-3)
        for p in norm_bias_params(model):  # the same optimizer set-up as the Learner's (wd_bn_bias=False)
            self.opt.state[p]["do_wd"] = False

    def epoch(self) -> tuple[float, float | None]:
        self.model.train()
        for xb, yb in self.train:
            loss = F.cross_entropy(self.model(xb), yb)
            loss.backward()
            self.opt.step()
            self.opt.zero_grad()
        self.model.eval()
        device = next(self.model.parameters()).device
        total, correct, count = torch.zeros((), device=device), torch.zeros((), device=device), 0
        with torch.no_grad():
            for xb, yb in self.valid:
                pred = self.model(xb)
                total += F.cross_entropy(pred, yb) * len(yb)
                if self.with_accuracy:
                    correct += (pred.argmax(-1) == yb).float().sum()
                count += len(yb)
        return (total / count).item(), (correct / count).item() if self.with_accuracy else None


CLOCK = time.perf_counter


def timed(f, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = CLOCK()
    f()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return CLOCK() - start


def run_case(
    name: str, data: tuple, repeats: int, with_bar_and_metric: bool, target: float, device: torch.device
) -> float:
    xt, yt, xv, yv = (t.to(device) for t in data)
    torch.manual_seed(0)
    train, valid = batch_loader(xt, yt, shuffle=True), batch_loader(xv, yv, shuffle=False)
    plain = PlainLoop(mlp().to(device), train, valid, with_accuracy=with_bar_and_metric)
    metrics = accuracy if with_bar_and_metric else None
    learn = Learner(DataLoaders(train, valid), mlp().to(device), F.cross_entropy, lr=1e-3, metrics=metrics)
    rows: list[str] = []
    learn.logger = rows.append
    learn.progress.show_bar = with_bar_and_metric

    def learner_epoch() -> None:
        if with_bar_and_metric:
            with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
                learn.fit(1)
        else:
            learn.fit(1)

    learner_epoch()  # warm-up (also creates the optimizer)
    plain.epoch()
    t_learn, t_plain = [], []
    for i in range(repeats):
        if i % 2:
            t_plain.append(timed(plain.epoch, device))
            t_learn.append(timed(learner_epoch, device))
        else:
            t_learn.append(timed(learner_epoch, device))
            t_plain.append(timed(plain.epoch, device))
    m_learn, m_plain = statistics.median(t_learn), statistics.median(t_plain)
    ratio = m_learn / m_plain
    ok = "ok" if ratio <= target else "ABOVE TARGET"
    print(f"{name}")
    for label, times in (("Learner.fit", t_learn), ("plain loop ", t_plain)):
        runs = ", ".join(f"{t * 1000:.0f}" for t in times)
        med, low = statistics.median(times) * 1000, min(times) * 1000
        print(f"  {label}  median {med:8.1f} ms/epoch  min {low:7.1f}  ({runs})")
    min_ratio = min(t_learn) / min(t_plain)
    print(f"  RATIO {ratio:.3f}  (target <= {target:.2f}: {ok});  ratio of minima {min_ratio:.3f}")
    print(f"  last table row: {rows[-1] if rows else ''}")
    return ratio


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--quick", action="store_true", help="fewer items and repeats (about 10 s)")
    parser.add_argument("--device", default="cpu", help="where model and data live (cpu, cuda)")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time the process's CPU time on one thread instead of wall time (steadier on a busy machine)",
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.cpu_time:  # one thread: idle worker threads spinning would count as CPU time
        global CLOCK
        CLOCK = time.process_time
        torch.set_num_threads(1)
    n_train, n_valid, repeats = (1000, 500, 3) if args.quick else (3000, 1000, 7)
    data = load_data(n_train, n_valid)
    print(
        f"torch {torch.__version__} on {device}, {torch.get_num_threads()} threads; {n_train} train / "
        f"{n_valid} valid items, batch {BS}, {repeats} repeats (medians of "
        f"{'process CPU time' if args.cpu_time else 'wall time'})\n"
    )
    run_case("1. default callbacks, no bar, no metric", data, repeats, False, 1.05, device)
    run_case("2. progress bar + accuracy metric", data, repeats, True, 1.10, device)


if __name__ == "__main__":
    sys.exit(main())
