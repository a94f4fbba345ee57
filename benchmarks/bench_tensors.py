"""Overhead of semantic tensors: typed-tensor ops vs the same ops on a plain `torch.Tensor`.

Cases on a 1000-element float tensor: `t + 1`, `t * t`, `t[idx]`, `t.sum()`, plus `t.shape` (attribute
access). The typed side is a `TensorImage`-like `TensorBase` subclass carrying one metadata attribute;
the baseline is the same op on a plain tensor. The two sides are interleaved (one block each, alternating)
and the script prints per-case medians (microseconds per op) and RATIO = typed / plain.

Also prints, for reference, in the same run:
- `stock`: the textbook design (a subclass relying on `torch.Tensor.__torch_function__`, metadata copied
  afterwards), to show what `TensorBase`'s design gains;
- `floor`: a subclass whose `__torch_function__` only unwraps its arguments and calls the op, returning a
  PLAIN tensor (it keeps no type): the cost of entering `__torch_function__` at all, i.e. the lower bound
  for any type-keeping design built on public torch APIs.

Usage: python benchmarks/bench_tensors.py [--quick] [--device cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lamina.core.tensors import TensorBase


class TensorImageLike(TensorBase):
    """Stand-in for a domain type such as `TensorImage`."""


class StockSubclass(torch.Tensor):
    """The textbook subclass: stock `__torch_function__`, metadata copied from the first argument."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        res = super().__torch_function__(func, types, args, kwargs)
        if isinstance(res, StockSubclass) and args and isinstance(args[0], StockSubclass):
            res.__dict__.update(args[0].__dict__)
        return res


class FloorSubclass(torch.Tensor):
    """Lower bound: enter `__torch_function__`, unwrap, run the op, return the plain result."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        plain = [a.as_subclass(torch.Tensor) if isinstance(a, FloorSubclass) else a for a in args]
        return func(*plain, **(kwargs or {}))


CASES = {
    "t + 1": lambda t, idx: t + 1,
    "t * t": lambda t, idx: t * t,
    "t[idx]": lambda t, idx: t[idx],
    "t.sum()": lambda t, idx: t.sum(),
    "t.shape": lambda t, idx: t.shape,
}


def _block(fn, t, idx, number: int) -> float:
    """Seconds per call over `number` calls (synchronised at the end on a GPU)."""
    start = time.perf_counter()
    for _ in range(number):
        fn(t, idx)
    if t.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (under ~10 s)")
    parser.add_argument("--device", default="cpu", help="device of the tensors (default: cpu)")
    opts = parser.parse_args()
    repeats, number = (7, 1000) if opts.quick else (31, 2000)

    torch.set_num_threads(1)
    plain = torch.randn(1000, device=opts.device)
    typed = TensorImageLike(plain.clone(), img_size=(10, 100))
    stock = plain.clone().as_subclass(StockSubclass)
    stock.img_size = (10, 100)
    floor = plain.clone().as_subclass(FloorSubclass)
    idx = torch.arange(0, 1000, 3, device=opts.device)
    assert type(typed + 1) is TensorImageLike and (typed + 1).img_size == (10, 100)

    print(f"torch {torch.__version__} on {opts.device}, 1000 float32, {repeats} interleaved x {number} calls")
    print(
        f"{'case':10s} {'plain us':>9s} {'typed us':>9s} {'RATIO':>6s} {'stock us':>9s} {'stock ratio':>11s} "
        f"{'floor us':>9s} {'floor ratio':>11s}"
    )
    for name, fn in CASES.items():
        sides = {"plain": plain, "typed": typed, "stock": stock, "floor": floor}
        for t in sides.values():  # warm up
            _block(fn, t, idx, 50)
        times: dict[str, list[float]] = {k: [] for k in sides}
        for _ in range(repeats):
            for k, t in sides.items():
                times[k].append(_block(fn, t, idx, number))
        med = {k: statistics.median(v) * 1e6 for k, v in times.items()}
        print(
            f"{name:10s} {med['plain']:9.2f} {med['typed']:9.2f} {med['typed'] / med['plain']:6.2f} "
            f"{med['stock']:9.2f} {med['stock'] / med['plain']:11.2f} "
            f"{med['floor']:9.2f} {med['floor'] / med['plain']:11.2f}"
        )


if __name__ == "__main__":
    main()
