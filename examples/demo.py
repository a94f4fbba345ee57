"""Lamina's main job: the kernel and every installed plugin at work.

Run it with `python3 -m nox -s demo` (which installs the packages first) or, in an environment
that has them, `python examples/demo.py [--out DIR] [--quick] [--only NAME]`.

It prints the installed plugins, runs the paper's low-level examples and a small DataBlock
through the kernel, then runs every demo that a plugin registered through the `lamina_demos`
hook: each trains on data its own package ships and writes its pictures into `--out`.
"""

from __future__ import annotations

import argparse
import numbers
import sys
import time
import traceback
from pathlib import Path

from lamina.core import __version__ as core_version
from lamina.core.basics.collections import L
from lamina.core.basics.functional import gt
from lamina.core.data.block import DataBlock
from lamina.core.data.blocks import CategoryBlock, TransformBlock
from lamina.core.data.splitters import RandomSplitter
from lamina.core.dispatch import typedispatch
from lamina.core.pipeline import Pipeline
from lamina.core.plugins import plugin_info, registry
from lamina.core.transform import Transform


def show_plugins() -> None:
    print(f"lamina-core {core_version}; installed plugins:")
    for info in plugin_info():
        what = ", ".join(f"{k}: {len(v)}" for k, v in info.registered.items() if v) or "nothing"
        state = "" if info.status == "loaded" else f"  FAILED: {info.error}"
        print(f"  {info.name:<8} {info.distribution or '?'} {info.version or ''}  ({what}){state}")


@typedispatch
def combine(x: numbers.Integral, y):
    return x + 1


@typedispatch
def combine(x: int, y: float):  # noqa: F811 - typedispatch gathers both cases
    return x + y


class Double(Transform):
    """Doubles numbers; decodes by halving."""

    def encodes(self, x: int):
        return 2 * x

    def decodes(self, x: int):
        return x // 2


def negate(x):
    return -x


def kernel_demo() -> dict:
    print("\n== kernel: low-level API (the paper's examples)")
    total = L(dict(a=1, b=-5, d=6, e=9).items()).itemgot(1).map(abs).filter(gt(4)).sum()
    print(f"L(...).itemgot(1).map(abs).filter(gt(4)).sum() = {total}")
    print(f"typedispatch: combine(3, 2.0) = {combine(3, 2.0)}, combine(3, 'a') = {combine(3, 'a')}")
    pipe = Pipeline([Double(), negate])
    print(f"Pipeline {pipe}: 21 -> {pipe(21)!r}; decoded back: {pipe.decode(pipe(21))!r}")

    print("\n== kernel: a DataBlock on numbers labelled by a function")
    block = DataBlock(
        blocks=(TransformBlock, CategoryBlock),
        get_y=lambda n: "even" if n % 2 == 0 else "odd",
        splitter=RandomSplitter(valid_pct=0.25, seed=42),
    )
    dls = block.dataloaders(list(range(200)), bs=8)
    xb, yb = dls.one_batch()
    print(f"vocab {list(dls.vocab)}; train {len(dls.train_ds)} / valid {len(dls.valid_ds)} items; "
          f"one batch x={xb.tolist()} y={yb.tolist()}")
    return {"L sum": total, "vocab": "/".join(dls.vocab)}


def run_demos(out: Path, quick: bool, only: str | None) -> list[tuple[str, str, float, dict | str]]:
    results = []
    for name, demo in sorted(registry.demos.items()):
        if only and name != only:
            continue
        print(f"\n== {name}")
        start = time.perf_counter()
        try:
            figures = demo(out_dir=out / name, quick=quick) or {}
            results.append((name, "ok", time.perf_counter() - start, figures))
        except Exception:  # a failing demo is reported; the others still run
            traceback.print_exc()
            results.append((name, "FAILED", time.perf_counter() - start, "see the traceback above"))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo_output"), help="folder for pictures")
    parser.add_argument("--quick", action="store_true", help="shorter training runs")
    parser.add_argument("--only", help="run only the demo of this name")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    show_plugins()
    kernel = kernel_demo()
    results = run_demos(args.out, args.quick, args.only)

    print("\n== summary")
    print(f"  {'kernel':<14} ok      {kernel}")
    for name, status, seconds, figures in results:
        print(f"  {name:<14} {status:<7} {seconds:6.1f}s  {figures}")
    print(f"pictures in {args.out.resolve()}")
    return 1 if any(status != "ok" for _, status, _, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main())
