"""`DataBlock.summary`: walk one sample, then one batch, through every step, printing types and shapes.

Steps, in order: collecting the items, splitting them, setting up each block's type pipeline (Datasets),
building the first training sample block by block (each getter and type transform, with the type and shape
after it), setting up the item/batch transforms (DataLoaders), then one batch of the first `bs` training
samples: item transforms (step by step on the first sample), `before_batch`, collation, the move to the
device and the batch transforms (step by step). When a step fails, a line `FAILED ...` is printed and the
error is re-raised (same exception class) with a message naming the step, the transform and the item (its
position and value).
"""

from __future__ import annotations

from typing import Any

import torch

from lamina.core.data.block import DataBlock, Getter
from lamina.core.data.blocks import tfm_name
from lamina.core.data.tfmd_lists import with_context
from lamina.core.pipeline import Pipeline
from lamina.core.tensors import to_device

__all__ = ["datablock_summary", "describe"]

_PREVIEW = 60


def _preview(o: Any, limit: int = _PREVIEW) -> str:
    text = " ".join(repr(o).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _rounded(v: Any) -> Any:
    """Floats in `v` (nested lists) to 4 significant digits."""
    if isinstance(v, float):
        return float(f"{v:.4g}")
    if isinstance(v, list):
        return [_rounded(o) for o in v]
    return v


def describe(x: Any, depth: int = 0) -> str:
    """The type and shape of `x` on one line: tensors with shape and dtype (and their value when small),
    tuples and lists element by element, anything else with a short repr."""
    if isinstance(x, torch.Tensor):
        text = f"{type(x).__name__} shape {tuple(x.shape)} {str(x.dtype).removeprefix('torch.')}"
        if x.numel() <= 4 and x.device.type != "meta":
            text += f" = {_rounded(x.item() if x.dim() == 0 else x.tolist())}"
        return text + ("" if x.device.type == "cpu" else f" on {x.device}")
    if isinstance(x, (tuple, list)) and depth < 2:
        if isinstance(x, list) and len(x) > 4:
            return f"list of {len(x)}: [{describe(x[0], depth + 1)}, ...]"
        inner = ", ".join(describe(o, depth + 1) for o in x)
        return f"({inner})" if isinstance(x, tuple) else f"[{inner}]"
    text = " ".join((repr(x) if isinstance(x, (str, bytes)) else str(x)).split())
    return f"{type(x).__name__} {text if len(text) <= _PREVIEW else text[: _PREVIEW - 3] + '...'}"


def _pick(items: Any, i: int) -> Any:
    return items.iloc[i] if hasattr(items, "iloc") else items[i]


def _step_name(t: Any) -> str:
    return f"getter `{tfm_name(t)}`" if isinstance(t, Getter) else f"`{tfm_name(t)}`"


class _Walk:
    """Runs the steps, printing each result; names the step, transform and item of a failure."""

    def __init__(self, indent: str = "  "):
        self.indent = indent

    def line(self, text: str = "", level: int = 0) -> None:
        print(f"{self.indent * level}{text}")

    def fail(self, e: Exception, step: str, where: str, t: Any = None, level: int = 1) -> Exception:
        what = f" in {_step_name(t)}" if t is not None else ""
        message = f"DataBlock.summary: step '{step}' failed{what} on {where}"
        self.line(f"FAILED {message}: {type(e).__name__}: {e}", level)
        return with_context(e, message)

    def run(self, step: str, f: Any, where: str) -> Any:
        """`f()`; a failure is re-raised naming `step` (no single transform or item involved)."""
        try:
            return f()
        except Exception as e:
            raise self.fail(e, step, where, level=0) from e

    def pipe(self, step: str, pipe: Pipeline, x: Any, where: str, split_idx: int, level: int) -> Any:
        """Apply each transform of `pipe` in turn, printing the value after it."""
        for t in pipe.fs:
            try:
                x = t(x, split_idx=split_idx)
            except Exception as e:
                raise self.fail(e, step, where, t, level) from e
            self.line(f"{_step_name(t)} -> {describe(x)}", level)
        return x


def _role(k: int, n_inp: int) -> str:
    return "input" if k < n_inp else "target"


def datablock_summary(
    dblock: DataBlock, source: Any, bs: int = 4, show_batch: bool = False, **kwargs: Any
) -> None:
    """Print how `dblock` turns `source` into one sample and one batch (see the module docstring)."""
    w = _Walk()
    w.line(f"DataBlock summary of {_preview(source)}")
    w.line("Setting up the type transforms")
    items = w.run("collecting items", lambda: dblock.collect_items(source), f"source {_preview(source)}")
    how = "the source itself" if dblock.get_items is None else f"get_items {tfm_name(dblock.get_items)}"
    w.line(f"Collected items with {how}: found {len(items)} items", 1)
    splits = w.run("splitting", lambda: dblock.split(items), f"{len(items)} items")
    sizes = ", ".join(str(len(s)) for s in splits)
    w.line(f"Split with {tfm_name(dblock.splitter)}: {len(splits)} subsets of sizes {sizes}", 1)
    dsets = w.run(
        "setting up the type transforms (Datasets)",
        lambda: dblock.datasets_of(items, splits),
        f"the {len(splits[0])} training items",
    )
    for k, tl in enumerate(dsets.tls):
        vocab = tl.vocab
        extra = "" if vocab is None else f"; vocab {_preview(list(vocab))}"
        w.line(f"block {k} ({_role(k, dsets.n_inp)}): {tl.tfms!r}{extra}", 1)

    train = dsets.train
    first = int(splits[0][0])
    raw = _pick(train.items, 0)
    where = f"training item 0 (item {first} of all items, value {_preview(raw)})"
    w.line("")
    w.line(f"Building one sample from {where}")
    parts = []
    for k, tl in enumerate(train.tls):
        w.line(f"block {k} ({_role(k, dsets.n_inp)}): starting from {describe(raw)}", 1)
        step = f"type transforms of block {k}"
        parts.append(w.pipe(step, tl.tfms, raw, where, split_idx=0, level=2))
    sample = tuple(parts)
    w.line(f"Final sample: {describe(sample)}")

    w.line("")
    n = min(bs, len(train))
    dls = w.run(
        "setting up the item and batch transforms (DataLoaders)",
        lambda: dblock.dataloaders_of(dsets, bs=n),
        "one batch of the training set",
    )
    dl = dls.train
    w.line(f"Building one batch of {n} training samples")
    samples = _item_tfms(w, dl, train, sample, where, n, splits)
    samples = _before_batch(w, dl, samples)
    b = w.run("collating", lambda: dl.retain(dl.create_batch(samples), samples), f"the first {n} samples")
    w.line(f"Collating {n} samples: {describe(b)}", 1)
    if dl.device is not None:
        b = w.run("moving to the device", lambda: to_device(b, dl.device), f"the batch on {dl.device}")
        w.line(f"Moved to {dl.device}", 1)
    if len(dl.after_batch.fs):
        w.line(f"Applying the batch transforms (after_batch): {dl.after_batch!r}", 1)
        b = w.pipe("batch transforms", dl.after_batch, b, "the collated batch", split_idx=0, level=2)
    else:
        w.line("No batch transforms to apply", 1)
    w.line(f"Final batch: {describe(b)}")
    if show_batch:
        dl.show_batch(**kwargs)


def _item_tfms(w: _Walk, dl: Any, train: Any, sample: tuple, where: str, n: int, splits: Any) -> list:
    if len(dl.after_item.fs):
        w.line(f"Applying the item transforms (after_item) to the first sample: {dl.after_item!r}", 1)
        first = w.pipe("item transforms", dl.after_item, sample, where, split_idx=0, level=2)
    else:
        w.line("No item transforms to apply", 1)
        first = sample
    samples = [first]
    for i in range(1, n):
        raw = _pick(train.items, i)
        at = f"training item {i} (item {int(splits[0][i])} of all items, value {_preview(raw)})"
        step = "building the other samples (type and item transforms)"
        samples.append(w.run(step, lambda i=i: dl.after_item(train[i]), at))
    if n > 1:
        w.line(f"Added the next {n - 1} samples", 1)
    return samples


def _before_batch(w: _Walk, dl: Any, samples: list) -> list:
    if not len(dl.before_batch.fs):
        w.line("No before_batch transforms to apply", 1)
        return samples
    w.line(f"Applying before_batch to the list of samples: {dl.before_batch!r}", 1)
    return w.pipe("before_batch", dl.before_batch, samples, "the list of samples", split_idx=0, level=2)
