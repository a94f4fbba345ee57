"""Showing images: `show_image`, `show_images`, `show_points`, `show_boxes`, and the vision cases of the
kernel's `show_batch` / `show_results` type dispatch (any batch whose input is a `TensorImage`).

`show_batch` draws one Axes per sample (two for image-to-image data) on a `get_grid` grid: the image, then
each target on top of it (a category as the title, a mask as a transparent colour overlay, points as a
scatter, boxes as labelled rectangles). `show_results` adds the predictions: for a category (or several)
the title reads `target/prediction`, green when they agree and red when they do not; for masks, points,
boxes and images a second Axes per sample shows the prediction next to the target. Both return the
matplotlib `Figure` (save it with `fig.savefig`). matplotlib is imported only when something is drawn.

Pixel coordinates: an image drawn by `imshow` has pixel `i` centred at `i`, while points and boxes use
continuous coordinates (pixel `i` spans `[i, i+1)`), so they are drawn shifted by half a pixel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from lamina.core.data.show import ShowTitle, get_grid, show_title
from lamina.core.dispatch import typedispatch
from lamina.vision.core import LabeledBBox, TensorBBox, TensorImage

__all__ = ["show_image", "show_images", "show_points", "show_boxes", "show_batch", "show_results"]

_BOX_COLORS = "tab10"


def _axes(ctx: Any, figsize: tuple[float, float] | None) -> Any:
    if ctx is not None:
        return ctx
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


def _as_array(im: Any) -> np.ndarray:
    """An image as an array for `imshow`: `(H, W)` or `(H, W, 3|4)`."""
    if isinstance(im, Image.Image):
        return np.asarray(im)
    if isinstance(im, torch.Tensor):
        t = im.detach().cpu().as_subclass(torch.Tensor)
        if t.dim() == 3 and t.shape[0] < 5:  # channels first
            t = t.permute(1, 2, 0)
        if t.is_floating_point():
            t = t.float()
        a = t.numpy()
    else:
        a = np.asarray(im)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3):
        raise ValueError(f"show_image: expected an image (H, W) or (C, H, W), got shape {a.shape}")
    if a.ndim == 3 and a.dtype.kind == "f":
        a = np.clip(a, 0, 1)  # RGB floats outside 0..1 cannot be shown as colours
    return a


def show_image(
    im: Any,
    ax: Any = None,
    figsize: tuple[float, float] | None = None,
    title: str | None = None,
    ctx: Any = None,
    **kwargs: Any,
) -> Any:
    """Draw image `im` (PIL image, `(C, H, W)`/`(H, W)` tensor or array) on `ax`/`ctx` (a new figure when
    None), with `title`; `kwargs` go to `imshow` (`cmap`, `alpha`, ...). Returns the Axes."""
    ax = _axes(ax if ax is not None else ctx, figsize)
    a = _as_array(im)
    if a.ndim == 3:
        kwargs.pop("cmap", None)  # colours come from the image itself
    ax.imshow(a, **kwargs)
    if title is not None:
        ax.set_title(title)
    ax.axis("off")
    return ax


def show_images(
    ims: Sequence[Any],
    nrows: int = 1,
    ncols: int | None = None,
    titles: Sequence[str] | None = None,
    figsize: tuple[float, float] | None = None,
    **kwargs: Any,
) -> Any:
    """Draw `ims` on a grid of `nrows` rows (with `titles`); returns the Figure."""
    import matplotlib.pyplot as plt

    ims = list(ims)
    if not ims:
        raise ValueError("show_images: no images to show")
    ncols = ncols or math.ceil(len(ims) / nrows)
    if titles is not None and len(titles) != len(ims):
        raise ValueError(f"show_images: {len(titles)} titles for {len(ims)} images")
    fig, axs = plt.subplots(nrows, ncols, figsize=figsize or (ncols * 3, nrows * 3), squeeze=False)
    flat = list(axs.flat)
    for ax in flat[len(ims) :]:
        ax.set_axis_off()
    for i, (im, ax) in enumerate(zip(ims, flat)):
        show_image(im, ax=ax, title=None if titles is None else titles[i], **kwargs)
    return fig


def show_points(pts: Any, ctx: Any = None, figsize: tuple[float, float] | None = None, **kwargs: Any) -> Any:
    """Scatter points `(n, 2)` given as `(x, y)` pixel coordinates on `ctx`; returns the Axes."""
    ax = _axes(ctx, figsize)
    p = torch.as_tensor(pts.as_subclass(torch.Tensor) if isinstance(pts, torch.Tensor) else pts)
    p = p.detach().cpu().float().reshape(-1, 2)
    kwargs = {"s": 20, "marker": ".", "c": "red", **kwargs}
    ax.scatter((p[:, 0] - 0.5).numpy(), (p[:, 1] - 0.5).numpy(), **kwargs)
    return ax


def show_boxes(
    boxes: Any,
    ctx: Any = None,
    labels: Sequence[str] | None = None,
    color: Any = None,
    figsize: tuple[float, float] | None = None,
    linewidth: float = 2,
    **kwargs: Any,
) -> Any:
    """Draw boxes `(n, 4)` (`x_min, y_min, x_max, y_max` in pixels) with optional `labels` on `ctx`; boxes
    without area (padding) are skipped. One colour per label (or `color` for all). Returns the Axes."""
    import matplotlib.patches as patches
    from matplotlib import colormaps

    ax = _axes(ctx, figsize)
    b = torch.as_tensor(boxes.as_subclass(torch.Tensor) if isinstance(boxes, torch.Tensor) else boxes)
    b = b.detach().cpu().float().reshape(-1, 4)
    if labels is not None and len(labels) != len(b):
        raise ValueError(f"show_boxes: {len(labels)} labels for {len(b)} boxes")
    palette = colormaps[_BOX_COLORS]
    names = sorted(set(labels)) if labels is not None else []
    for i, (x0, y0, x1, y1) in enumerate(b.tolist()):
        if x1 <= x0 or y1 <= y0:
            continue
        label = None if labels is None else labels[i]
        c = color or (palette(names.index(label) % palette.N) if label is not None else "yellow")
        ax.add_patch(
            patches.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor=c, lw=linewidth)
        )
        if label is not None:
            ax.text(x0 - 0.5, y0 - 0.5, label, color="white", fontsize=8, va="bottom",
                    bbox={"facecolor": c, "alpha": 0.7, "pad": 1, "edgecolor": "none"})  # fmt: skip
    return ax


# ---- batches --------------------------------------------------------------------------------------------
def _parts(s: Any) -> tuple:
    return tuple(s) if isinstance(s, tuple) and not isinstance(s, LabeledBBox) else (s,)


def _show_parts(parts: Sequence[Any], ctx: Any, **kwargs: Any) -> Any:
    """Show each part of a sample on one Axes, in order (a part without `show` as a title); plain boxes are
    left out when the sample has the same boxes with their labels."""
    labelled = any(isinstance(p, LabeledBBox) for p in parts)
    for p in parts:
        if labelled and isinstance(p, TensorBBox):
            continue
        ctx = p.show(ctx=ctx, **kwargs) if hasattr(p, "show") else show_title(p, ctx=ctx)
    return ctx


def _grid(n: int, ctxs: Any, double: bool = False, **grid: Any) -> tuple[Any, list]:
    """(figure, Axes): the given `ctxs`, or a new `get_grid` of `n` (twice `n` when `double`) Axes."""
    if ctxs is not None:
        ctxs = list(ctxs)
        needed = n * (2 if double else 1)
        if len(ctxs) < needed:
            raise ValueError(f"show_batch: got {len(ctxs)} Axes for {needed} pictures")
        return ctxs[0].figure, ctxs
    fig, axs = get_grid(n, double=double, return_fig=True, **grid)
    return fig, list(axs)


def _split_kwargs(kwargs: dict) -> tuple[dict, dict]:
    grid = {k: kwargs.pop(k) for k in ("nrows", "ncols", "figsize") if k in kwargs}
    return grid, kwargs


@typedispatch
def show_batch(
    x: TensorImage, y: Any, samples: Sequence[Any], ctxs: Any = None, max_n: int = 9, **kwargs: Any
) -> Any:
    """Images with their targets drawn on them, one Axes per sample; returns the Figure."""
    if samples is None:
        samples = [(img,) for img in x[:max_n]]
    samples = list(samples)[:max_n]
    grid, kwargs = _split_kwargs(kwargs)
    fig, axs = _grid(len(samples), ctxs, **grid)
    for s, ax in zip(samples, axs):
        _show_parts(_parts(s), ax, **kwargs)
    return fig


@typedispatch
def show_batch(  # noqa: F811 (one case per type pair)
    x: TensorImage, y: TensorImage, samples: Sequence[Any], ctxs: Any = None, max_n: int = 9, **kwargs: Any
) -> Any:
    """Image-to-image data: the input and the target image side by side; returns the Figure."""
    samples = list(samples)[:max_n]
    grid, kwargs = _split_kwargs(kwargs)
    fig, axs = _grid(len(samples), ctxs, double=True, **grid)
    for k, s in enumerate(samples):
        parts = _parts(s)
        _show_parts(parts[:1], axs[2 * k], **kwargs)
        _show_parts(parts[1:], axs[2 * k + 1], **kwargs)
    return fig


def _is_title(o: Any) -> bool:
    return isinstance(o, (ShowTitle, str, int, float))


def _title_text(o: Any) -> str:
    items = getattr(o, "items", None)
    if isinstance(items, list):  # a MultiCategory (an L of labels)
        return ";".join(map(str, items))
    return str(o)


def _agree(target: Any, pred: Any) -> bool:
    a, b = _title_text(target), _title_text(pred)
    if ";" in a or ";" in b or getattr(target, "items", None) is not None:
        return set(filter(None, a.split(";"))) == set(filter(None, b.split(";")))
    return a == b


@typedispatch
def show_results(
    x: TensorImage,
    y: Any,
    samples: Sequence[Any],
    outs: Sequence[Any],
    ctxs: Any = None,
    max_n: int = 9,
    **kwargs: Any,
) -> Any:
    """Samples with their predictions; returns the Figure.

    Category targets: one Axes per sample titled `target/prediction`, green when right, red when wrong.
    Other targets (masks, points, boxes, images): the target (left, titled "target") next to the prediction
    (right, titled "prediction"), both drawn over the input image.
    """
    samples, outs = list(samples)[:max_n], list(outs)[:max_n]
    if len(outs) < len(samples):
        raise ValueError(f"show_results: {len(outs)} predictions for {len(samples)} samples")
    grid, kwargs = _split_kwargs(kwargs)
    first = _parts(samples[0])
    targets = first[1:]
    if targets and all(_is_title(t) for t in targets):
        fig, axs = _grid(len(samples), ctxs, **grid)
        for s, o, ax in zip(samples, outs, axs):
            parts, preds = _parts(s), _parts(o)
            _show_parts(parts[:1], ax, **kwargs)
            texts = [f"{_title_text(t)}/{_title_text(p)}" for t, p in zip(parts[1:], preds)]
            right = all(_agree(t, p) for t, p in zip(parts[1:], preds))
            ax.set_title("\n".join(texts), color="green" if right else "red")
        return fig
    fig, axs = _grid(len(samples), ctxs, double=True, **grid)
    for k, (s, o) in enumerate(zip(samples, outs)):
        parts, preds = _parts(s), _parts(o)
        left, right = axs[2 * k], axs[2 * k + 1]
        _show_parts(parts, left, **kwargs)
        _show_parts(parts[:1] + preds, right, **kwargs)
        left.set_title("target")
        right.set_title("prediction")
    return fig
