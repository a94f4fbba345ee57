"""Cost of a `typedispatch` call vs calling the matching function directly.

Cases: a one-argument dispatcher (`f(x: int)`), a two-argument dispatcher with an ABC and a more specific
overload (the paper's `f(x: numbers.Integral, y)` / `f(x: int, y: float)`), a method-style dispatcher
(`obj.encodes(x)`, as `Transform` uses it), and an unmatched call (returns `x`). The baseline is a direct
call of the plain function that the dispatcher would pick (for the method case, a plain bound method).
Sides are interleaved; the script prints per-case medians (microseconds per call) and RATIO.

Usage: python benchmarks/bench_dispatch.py [--quick]
"""

from __future__ import annotations

import argparse
import numbers
import statistics
import time

from lamina.core.dispatch import TypeDispatch, typedispatch


@typedispatch
def bench_one(x: int):
    return x


@typedispatch
def bench_one(x: str):  # noqa: F811
    return x


@typedispatch
def bench_two(x: numbers.Integral, y):
    return x + 1


@typedispatch
def bench_two(x: int, y: float):  # noqa: F811
    return x + y


def plain_one(x):
    return x


def plain_two(x, y):
    return x + y


class WithDispatch:
    encodes = TypeDispatch()

    @encodes.register
    def _encodes_int(self, x: int):
        return x


class WithMethod:
    def encodes(self, x):
        return x


def _time(fn, number: int) -> float:
    start = time.perf_counter()
    fn(number)
    return (time.perf_counter() - start) / number


def _loop(call, *args):
    def run(number: int) -> None:
        for _ in range(number):
            call(*args)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (under ~10 s)")
    opts = parser.parse_args()
    repeats, number = (7, 20_000) if opts.quick else (31, 50_000)

    d_obj, m_obj = WithDispatch(), WithMethod()
    assert bench_two(3, 2.0) == 5.0 and bench_two(3, "a") == 4 and d_obj.encodes(3) == 3
    cases = {
        "one arg": (_loop(bench_one, 3), _loop(plain_one, 3)),
        "two args": (_loop(bench_two, 3, 2.0), _loop(plain_two, 3, 2.0)),
        "method": (
            lambda n: [d_obj.encodes(3) for _ in range(n)],
            lambda n: [m_obj.encodes(3) for _ in range(n)],
        ),
        "unmatched": (_loop(bench_one, 2.5), _loop(plain_one, 2.5)),
    }
    print(f"{repeats} interleaved repeats x {number} calls")
    print(f"{'case':10s} {'direct us':>9s} {'dispatch us':>11s} {'RATIO':>6s} {'extra us':>8s}")
    for name, (dispatched, direct) in cases.items():
        dispatched(1000), direct(1000)
        td, tp = [], []
        for _ in range(repeats):
            tp.append(_time(direct, number))
            td.append(_time(dispatched, number))
        p, d = statistics.median(tp) * 1e6, statistics.median(td) * 1e6
        print(f"{name:10s} {p:9.3f} {d:11.3f} {d / p:6.2f} {d - p:8.3f}")


if __name__ == "__main__":
    main()
