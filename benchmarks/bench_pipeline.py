"""Per-call overhead of a `Pipeline` against plain function calls.

Cases (each: a Pipeline of three transforms vs the same three plain functions called directly):
- `noop`: three no-op transforms (`encodes` returns its input) on a small tensor;
- `noop-tuple`: the same on an `(x, y)` tuple (element-wise, so six case calls vs six function calls);
- `add`: three transforms doing real work on a 1000-element tensor (`x + 1`), where the overhead is
  a share of a real operation.

The two sides are timed alternately (interleaved) several times; medians per call are printed with
RATIO = pipeline / plain. Times are this process's CPU time (`time.process_time`), so that time spent
waiting for a core on a shared machine does not count. Run: `python benchmarks/bench_pipeline.py [--quick]`.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lamina.core.pipeline import Pipeline
from lamina.core.transform import Transform


class NoOp(Transform):
    def encodes(self, x: torch.Tensor):
        return x


class AddOne(Transform):
    def encodes(self, x: torch.Tensor):
        return x + 1


def noop(x):
    return x


def add_one(x):
    return x + 1


def _per_call(fn, arg, number: int) -> float:
    start = time.process_time()
    for _ in range(number):
        fn(arg)
    return (time.process_time() - start) / number


def _measure(pipe_fn, plain_fn, arg, number: int, repeats: int) -> tuple[float, float]:
    pipe_fn(arg), plain_fn(arg)  # warm up (fills the dispatch caches)
    pipe_times, plain_times = [], []
    for _ in range(repeats):  # interleave the two sides so machine noise hits both alike
        pipe_times.append(_per_call(pipe_fn, arg, number))
        plain_times.append(_per_call(plain_fn, arg, number))
    return statistics.median(pipe_times), statistics.median(plain_times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and repeats (under ~10 s)")
    args = parser.parse_args()
    number, repeats = (3_000, 5) if args.quick else (30_000, 9)

    small, big = torch.ones(4), torch.ones(1000)
    noop_pipe = Pipeline([NoOp(), NoOp(), NoOp()])
    add_pipe = Pipeline([AddOne(), AddOne(), AddOne()])

    def plain_noop(x):
        return noop(noop(noop(x)))

    def plain_noop_tuple(xy):
        return tuple(noop(noop(noop(o))) for o in xy)

    def plain_add(x):
        return add_one(add_one(add_one(x)))

    cases = [
        ("noop", noop_pipe, plain_noop, small, 3),
        ("noop-tuple", noop_pipe, plain_noop_tuple, (small, small), 6),
        ("add", add_pipe, plain_add, big, 3),
    ]
    header = f"{'case':<12} {'pipeline us':>12} {'plain us':>10} {'RATIO':>7}"
    print(f"{header}   ({number} calls x {repeats} repeats, medians)")
    for name, pipe_fn, plain_fn, arg, calls in cases:
        pipe_t, plain_t = _measure(pipe_fn, plain_fn, arg, number, repeats)
        overhead = (pipe_t - plain_t) / calls * 1e6
        print(
            f"{name:<12} {pipe_t * 1e6:>12.2f} {plain_t * 1e6:>10.2f} {pipe_t / plain_t:>7.2f}"
            f"   (+{overhead:.2f} us per case call)"
        )


if __name__ == "__main__":
    main()
