"""Mixed-precision training speed: `Learner.fit` with `MixedPrecision("bf16")` + `ChannelsLast` against a
hand-written PyTorch loop with `torch.autocast(dtype=torch.bfloat16)` and channels-last, on the same model
(each side its own copy of the same initial weights), the same batches (already on the device) and the same
optimizer (Lamina's SGD with momentum).

Cases:
  1. eager:    Learner.fit                                   vs  plain loop
  2. compiled: learn.compile(mode="reduce-overhead") + fit   vs  plain loop on torch.compile(model, same mode)

Images per second per side; each side runs one epoch (`steps` batches) at a time, interleaved, after
warm-up epochs (which also compile); medians over the repeats give RATIO = learner time / plain time.

Real run (`--device cuda`): an xresnet50 (`lamina.vision.models.xresnet`, else a local ResNet-50-style
model from `lamina.core.layers`) at 128 px, batches of 128. On the CPU (default) a smoke run at 32 px,
batches of 8, 3 steps per epoch: a miniature xresnet (one narrow bottleneck block per stage) for the
eager case and, since inductor's C++ build of every layer takes minutes on a small machine, a micro ResNet
(stem conv, one bottleneck block, head) for the compiled case. It checks that everything runs and gives a
rough ratio, not a speed claim. `--quick` skips the compiled case on the CPU.

`--cpu-time` times the process's CPU time on one thread instead of wall time (steadier on a busy machine;
CPU only).

    python benchmarks/bench_mixed_precision.py [--quick] [--device cuda] [--no-compile] [--cpu-time]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

import lamina.core.callbacks.compile  # noqa: F401  (adds learn.compile)
from lamina.core.callbacks.channels_last import ChannelsLast
from lamina.core.callbacks.mixed_precision import MixedPrecision
from lamina.core.data.loaders import DataLoaders
from lamina.core.layers.basic import Flatten
from lamina.core.layers.conv import ConvLayer
from lamina.core.layers.pooling import AdaptiveAvgPool
from lamina.core.layers.resblock import ResBlock
from lamina.core.learner.learner import Learner
from lamina.core.optim.optimizers import SGD

N_CLASSES = 10
LR, MOM = 0.01, 0.9


def local_resnet(layers: list[int], width: int, stem: tuple[int, int, int]) -> nn.Module:
    """A ResNet-style model (xresnet stem, bottleneck blocks) from the kernel's layers."""
    convs = [
        ConvLayer(3 if i == 0 else stem[i - 1], s, stride=2 if i == 0 else 1) for i, s in enumerate(stem)
    ]
    blocks, ni = [], stem[-1] // 4
    for i, n in enumerate(layers):
        nf = width * 2**i
        for j in range(n):
            blocks.append(ResBlock(4, ni, nf, stride=1 if i == 0 or j else 2))
            ni = nf
    return nn.Sequential(
        *convs,
        nn.MaxPool2d(3, 2, 1),
        *blocks,
        AdaptiveAvgPool(1),
        Flatten(),
        nn.Linear(ni * 4, N_CLASSES),
    )


def make_model(full: bool) -> tuple[nn.Module, str]:
    layers = [3, 4, 6, 3] if full else [1, 1, 1, 1]
    try:
        from lamina.vision.models.xresnet import XResNet

        if full:
            from lamina.vision.models.xresnet import xresnet50

            return xresnet50(n_out=N_CLASSES), "xresnet50 (lamina.vision)"
        model = XResNet(ResBlock, 4, layers, n_out=N_CLASSES, stem_szs=(8, 8, 16), widen=0.25)
        return model, "miniature xresnet [1,1,1,1], widen 0.25 (lamina.vision)"
    except ImportError:
        if full:
            return local_resnet(layers, 64, (32, 32, 64)), "local ResNet-50-style model (lamina.core.layers)"
        return local_resnet(layers, 16, (8, 8, 16)), "local miniature ResNet (lamina.core.layers)"


def micro_resnet() -> tuple[nn.Module, str]:
    """Stem conv, one bottleneck block, head: the compiled CPU smoke model (a short C++ build)."""
    model = nn.Sequential(
        ConvLayer(3, 16, stride=2),
        ResBlock(4, 4, 4, stride=2),
        AdaptiveAvgPool(1),
        Flatten(),
        nn.Linear(16, N_CLASSES),
    )
    return model, "micro ResNet (stem conv, one bottleneck block; lamina.core.layers)"


def make_batches(n: int, bs: int, size: int, device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [
        (
            torch.randn(bs, 3, size, size, generator=g).to(device),
            torch.randint(0, N_CLASSES, (bs,), generator=g).to(device),
        )
        for _ in range(n)
    ]


def new_opt(params) -> SGD:
    return SGD(list(params), lr=LR, mom=MOM)


class PlainLoop:
    """The hand-written baseline: autocast around forward and loss, channels-last model and inputs."""

    def __init__(
        self, model: nn.Module, batches: list, device: torch.device, compile_mode: str | None
    ) -> None:
        self.model = model.to(device).to(memory_format=torch.channels_last)
        self.opt = new_opt(self.model.parameters())
        self.run = torch.compile(self.model, mode=compile_mode) if compile_mode else self.model
        self.batches, self.device_type = batches, device.type

    def epoch(self) -> None:
        self.model.train()
        for x, y in self.batches:
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.device_type, dtype=torch.bfloat16):
                loss = F.cross_entropy(self.run(x), y)
            loss.backward()
            self.opt.step()
            self.opt.zero_grad()


def learner_side(model: nn.Module, batches: list, device: torch.device, compile_mode: str | None) -> Callable:
    dls = DataLoaders(batches, [])
    learn = Learner(
        dls,
        model.to(device),
        loss_func=F.cross_entropy,
        opt_func=lambda params, lr: SGD(params, lr=lr, mom=MOM),
        lr=LR,
        cbs=[MixedPrecision("bf16"), ChannelsLast()],
    )
    if compile_mode:
        learn.compile(mode=compile_mode)

    def epoch() -> None:
        with learn.quiet():
            learn.fit(1)

    return epoch


CLOCK = time.perf_counter


def timed(f: Callable[[], None], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = CLOCK()
    f()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return CLOCK() - start


def run_case(
    name: str,
    model: nn.Module,
    batches: list,
    repeats: int,
    warmup: int,
    device: torch.device,
    mode: str | None,
    described: str,
) -> float:
    n_images = sum(len(y) for _, y in batches)
    learn_epoch = learner_side(copy.deepcopy(model), batches, device, mode)
    plain = PlainLoop(copy.deepcopy(model), batches, device, mode)
    start = time.perf_counter()
    for _ in range(warmup):
        learn_epoch()
        plain.epoch()
    warm = time.perf_counter() - start
    t_learn, t_plain = [], []
    for i in range(repeats):
        pair = [(t_learn, learn_epoch), (t_plain, plain.epoch)]
        for times, f in pair if i % 2 == 0 else reversed(pair):
            times.append(timed(f, device))
    ratio = statistics.median(t_learn) / statistics.median(t_plain)
    print(f"{name}: {described}  (warm-up {warm:.1f} s)")
    for label, times in (("Learner.fit", t_learn), ("plain loop ", t_plain)):
        runs = ", ".join(f"{t * 1000:.0f}" for t in times)
        med = statistics.median(times)
        print(f"  {label}  median {n_images / med:9.1f} images/s  {med * 1000:8.1f} ms/epoch  ({runs})")
    print(f"  RATIO {ratio:.3f}  (learner time / plain time; 1.0 = no overhead)")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu", help="cpu (smoke run) or cuda (the real run)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats; no compiled case on the CPU")
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled case")
    parser.add_argument("--cpu-time", action="store_true", help="process CPU time on one thread (CPU only)")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.cpu_time:
        if device.type != "cpu":
            parser.error("--cpu-time measures the CPU only; drop it with --device cuda")
        global CLOCK
        CLOCK = time.process_time
        torch.set_num_threads(1)
    full = device.type != "cpu"
    if full:
        bs, size, steps, repeats, warmup = 128, 128, 20, 3 if args.quick else 7, 2
    else:
        bs, size, steps, repeats, warmup = 8, 32, 3, 3 if args.quick else 5, 1
    torch.manual_seed(0)
    model, described = make_model(full)
    batches = make_batches(steps, bs, size, device)
    print(
        f"torch {torch.__version__} on {device}, {torch.get_num_threads()} threads; "
        f"{size} px, batch {bs}, {steps} steps per epoch, {repeats} repeats; bf16 autocast + channels-last; "
        f"medians of {'process CPU time' if args.cpu_time else 'wall time'}\n"
    )
    run_case("1. eager", model, batches, repeats, warmup, device, None, described)
    if args.no_compile or (args.quick and not full):
        print("\n2. compiled: skipped" + (" (--quick on the CPU)" if not args.no_compile else ""))
        return
    print()
    if not full:
        model, described = micro_resnet()
    case = '2. compiled, mode="reduce-overhead"'
    run_case(case, model, batches, repeats, warmup + 2, device, "reduce-overhead", described)


if __name__ == "__main__":
    main()
