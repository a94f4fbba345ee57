"""Lamina's DataLoader against a plain `torch.utils.data.DataLoader` on the same items and settings.

Each case iterates one epoch over trivial items (so the loaders' own overhead is what is measured)
with 0 and 2 workers; the two sides are interleaved and each reports the median of several epochs.
RATIO = lamina / torch (target <= 1.2).

    python benchmarks/bench_dataloader.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import TensorDataset

from lamina.core.data.load import DataLoader


def epoch_seconds(loader) -> float:
    start = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - start


def compare(name: str, ours, theirs, repeats: int) -> float:
    epoch_seconds(ours), epoch_seconds(theirs)  # warm-up: imports, first worker start
    mine, base = [], []
    for i in range(repeats):  # interleaved, and each side goes first every other time
        if i % 2:
            base.append(epoch_seconds(theirs))
        mine.append(epoch_seconds(ours))
        if not i % 2:
            base.append(epoch_seconds(theirs))
    a, b = statistics.median(mine), statistics.median(base)
    print(f"{name:<50} lamina {a * 1e3:8.1f} ms   torch {b * 1e3:8.1f} ms   RATIO {a / b:5.2f}")
    return a / b


def same_batches(ours, theirs) -> bool:
    """Both sides give the same tensors (torch turns a tuple item into a list batch, we keep tuples)."""
    first = lambda b: b[0] if isinstance(b, (tuple, list)) else b
    return all(torch.equal(first(a), first(b)) for a, b in zip(ours, theirs, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer items, cases and repeats (about 10 s)")
    args = parser.parse_args()
    n, repeats, shuffles = (10_000, 3, (True,)) if args.quick else (100_000, 5, (False, True))
    worker_repeats = 3  # an epoch with workers costs ~10x more here: keep the run near a minute
    torch.set_num_threads(1)
    ints = list(range(n))
    scalars = TensorDataset(torch.arange(n, dtype=torch.float32))
    print(f"{n} items, bs 64, medians of {repeats} epochs ({worker_repeats} with workers), interleaved")
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs")
    print("workers > 0: persistent on both sides, so worker start-up is not in the epoch time")
    ratios = []
    for workers in (0, 2):
        w = dict(num_workers=workers, persistent_workers=workers > 0)
        for label, items in (("list of ints", ints), ("TensorDataset of scalars", scalars)):
            for shuffle in shuffles:
                ours = DataLoader(items, bs=64, shuffle=shuffle, seed=0, **w)
                theirs = TorchDataLoader(items, batch_size=64, shuffle=shuffle, **w)
                if not shuffle:
                    assert same_batches(ours, theirs), "the two loaders disagree"
                name = f"{label}, shuffle={shuffle}, workers={workers}"
                ratios.append(compare(name, ours, theirs, repeats if workers == 0 else worker_repeats))
                del ours, theirs  # shut persistent workers down before the next case
    print(f"worst RATIO {max(ratios):.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
