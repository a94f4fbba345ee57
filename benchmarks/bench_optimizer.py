"""Optimizer step speed: Lamina's multi-tensor steps against `torch.optim` (foreach) on a ResNet-50-sized
parameter list (161 tensors, 25.6M parameters, random gradients).

    python benchmarks/bench_optimizer.py [--quick] [--device cpu|cuda] [--repeats N]

Each case times single steps of both sides, interleaved (the order alternates every repeat), after
warm-up steps that allocate the state; it prints the median step times and RATIO = ours / torch, the
median of the per-repeat ratios (target <= 1.2).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from lamina.core.optim.optimizers import SGD, Adam


def resnet50_shapes() -> list[tuple[int, ...]]:
    """The parameter shapes of torchvision's resnet50, in model order."""
    shapes: list[tuple[int, ...]] = [(64, 3, 7, 7), (64,), (64,)]
    in_ch = 64
    for width, blocks in ((64, 3), (128, 4), (256, 6), (512, 3)):
        for b in range(blocks):
            out_ch = width * 4
            shapes += [(width, in_ch, 1, 1), (width,), (width,), (width, width, 3, 3), (width,), (width,)]
            shapes += [(out_ch, width, 1, 1), (out_ch,), (out_ch,)]
            if b == 0:
                shapes += [(out_ch, in_ch, 1, 1), (out_ch,), (out_ch,)]
            in_ch = out_ch
    return shapes + [(1000, 2048), (1000,)]


def random_weights_and_grads(shapes, device: str) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    g = torch.Generator(device="cpu").manual_seed(0)
    weights = [torch.randn(shape, generator=g).mul_(0.02).to(device) for shape in shapes]
    grads = [torch.randn(shape, generator=g).to(device) for shape in shapes]
    return weights, grads


def as_params(weights, grads) -> list[torch.nn.Parameter]:
    """Fresh parameters (copies of `weights`) whose `.grad` are `grads` (read-only in every step timed)."""
    params = [torch.nn.Parameter(w.clone()) for w in weights]
    for p, grad in zip(params, grads):
        p.grad = grad
    return params


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_step(step: Callable[[], None], device: str) -> float:
    sync(device)
    start = time.perf_counter()
    step()
    sync(device)
    return time.perf_counter() - start


def run_case(name: str, ours_factory, torch_factory, data, device: str, repeats: int, warmup: int) -> float:
    ours, theirs = ours_factory(as_params(*data)), torch_factory(as_params(*data))
    for _ in range(warmup):
        ours.step()
        theirs.step()
    ours_times, torch_times = [], []
    for r in range(repeats):
        pair = [(ours, ours_times), (theirs, torch_times)]
        for opt, times in pair if r % 2 == 0 else reversed(pair):
            times.append(time_step(opt.step, device))
    ours_ms, torch_ms = statistics.median(ours_times) * 1e3, statistics.median(torch_times) * 1e3
    # the median of the per-repeat ratios: each pair ran back to back, so slow drifts of a shared
    # machine cancel out; the ratio of the medians is printed beside it
    ratio = statistics.median(a / b for a, b in zip(ours_times, torch_times))
    print(
        f"{name:<40} ours {ours_ms:9.3f} ms  torch {torch_ms:9.3f} ms  "
        f"RATIO {ratio:5.2f} (of medians {ours_ms / torch_ms:4.2f})"
    )
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (under ~10 s on 2 CPU cores)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    repeats = args.repeats or (5 if args.quick else 15)
    warmup = 2
    if args.device.startswith("cuda"):
        repeats, warmup = repeats * 10, warmup * 10
    shapes = resnet50_shapes()
    n_params = sum(torch.Size(s).numel() for s in shapes)
    print(f"device {args.device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"{len(shapes)} tensors, {n_params / 1e6:.1f}M parameters, {repeats} interleaved repeats, medians")
    cases = [
        (
            "Adam(wd=0) vs torch Adam(foreach)",
            lambda p: Adam(p, lr=1e-3, mom=0.9, sqr_mom=0.999, eps=1e-8, wd=0.0),
            lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, foreach=True),
        ),
        (
            "Adam(wd=0.01) vs torch AdamW(foreach)",
            lambda p: Adam(p, lr=1e-3, mom=0.9, sqr_mom=0.999, eps=1e-8, wd=0.01),
            lambda p: torch.optim.AdamW(
                p, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, foreach=True
            ),
        ),
    ]
    if not args.quick:
        cases.append(
            (
                "SGD(mom=0.9) vs torch SGD(foreach)",
                lambda p: SGD(p, lr=1e-2, mom=0.9),
                lambda p: torch.optim.SGD(p, lr=1e-2, momentum=0.9, foreach=True),
            )
        )
    data = random_weights_and_grads(shapes, args.device)
    ratios = [
        run_case(name, ours, theirs, data, args.device, repeats, warmup) for name, ours, theirs in cases
    ]
    print(f"worst RATIO {max(ratios):.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
