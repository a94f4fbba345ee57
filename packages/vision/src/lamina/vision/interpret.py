"""Looking at what a trained model gets wrong: `Interpretation` (per-item losses, `top_losses`,
`plot_top_losses`) and `ClassificationInterpretation` (confusion matrix, most confused pairs).

`from_learner` runs the model once over a loader (the validation set by default) in dataset order and
keeps the predictions (after the loss's activation, or `act`), the targets, the decoded predictions and
one loss per item. For dense targets (a mask: one loss per pixel) an item's loss is the mean over its
elements. Index `i` of every array is item `i` of `dl.dataset`.

`plot_top_losses` draws the items with the largest losses through the `plot_top_losses` type dispatch:
images get one Axes per item titled `prediction/actual / loss / probability` (or, for masks, points and
boxes, the target beside the prediction); other data get a `pandas.DataFrame` of the same columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from lamina.core.dispatch import typedispatch
from lamina.core.learner.preds import in_dataset_order
from lamina.vision.core import TensorImage
from lamina.vision.show import _grid, _is_title, _parts, _show_parts, _split_kwargs, _title_text

__all__ = ["Interpretation", "ClassificationInterpretation", "plot_top_losses"]


def _per_item(losses: torch.Tensor, n: int) -> torch.Tensor:
    """One loss per item: `losses` as is, or the mean over each item's elements (masks)."""
    losses = losses.float().reshape(-1)
    if n == 0 or losses.numel() == n:
        return losses
    if losses.numel() % n:
        raise ValueError(
            f"Interpretation: got {losses.numel()} losses for {n} items, which is not a whole number per item"
        )
    return losses.reshape(n, -1).mean(1)


def _n_items(preds: Any) -> int:
    first = preds[0] if isinstance(preds, (tuple, list)) else preds
    return int(first.shape[0])


def _take(x: Any, idx: torch.Tensor) -> Any:
    if isinstance(x, (tuple, list)):
        return type(x)(_take(o, idx) for o in x)
    return x[idx] if isinstance(x, torch.Tensor) else x


class Interpretation:
    """The predictions of `learn` on loader `dl`: `preds` (activated), `targs`, `decoded` and one loss per
    item (`losses`), index `i` being item `i` of `dl.dataset`. Make it with `from_learner`."""

    def __init__(
        self,
        learn: Any,
        dl: Any,
        preds: Any,
        targs: Any,
        decoded: Any,
        losses: torch.Tensor,
        act: Callable | None = None,
    ) -> None:
        self.learn, self.dl, self.act = learn, dl, act
        self.preds, self.targs, self.decoded = preds, targs, decoded
        self.losses = losses

    @classmethod
    def from_learner(cls, learn: Any, ds_idx: int = 1, dl: Any = None, act: Callable | None = None) -> Any:
        """Run `learn` over `dl` (default: `learn.dls[ds_idx]`, the validation set) in dataset order."""
        if dl is None:
            try:
                dl = learn.dls[ds_idx]
            except (IndexError, TypeError) as e:
                raise ValueError(
                    f"{cls.__name__}.from_learner: the data has no loader {ds_idx}: {e}"
                ) from None
        if callable(getattr(dl, "new", None)):
            dl = dl.new(shuffle=False, drop_last=False)
        else:
            dl = in_dataset_order(dl)
        preds, targs, decoded, losses = learn.get_preds(
            dl=dl, with_decoded=True, with_loss=True, act=act, reorder=False
        )
        if targs is None:
            raise ValueError(
                f"{cls.__name__}.from_learner: the loader has no targets, so there are no losses"
            )
        return cls(learn, dl, preds, targs, decoded, _per_item(losses, _n_items(preds)), act=act)

    def __len__(self) -> int:
        return int(self.losses.shape[0])

    def top_losses(
        self, k: int | None = None, largest: bool = True, items: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor] | tuple[torch.Tensor, torch.Tensor, list]:
        """The `k` largest (or smallest) losses and their item indices, largest first; with `items`, the
        dataset's items (e.g. file names) too. `k=None`: all of them."""
        n = len(self)
        k = n if k is None else k
        if isinstance(k, bool) or not isinstance(k, int) or not 0 < k <= n:
            raise ValueError(f"top_losses: k must be an int in 1..{n} (the number of items), got {k!r}")
        losses, idx = self.losses.topk(k, largest=largest)
        if not items:
            return losses, idx
        source = getattr(self.dl.dataset, "items", self.dl.dataset)
        rows = getattr(source, "iloc", None)
        chosen = rows[idx.tolist()] if rows is not None else [source[i] for i in idx.tolist()]
        return losses, idx, chosen

    def _batch_of(self, idx: torch.Tensor) -> tuple:
        """The items `idx` of the loader, as one batch (through its item and batch transforms)."""
        order = idx.tolist()
        dl = self.dl.new(get_idxs=lambda: order, bs=len(order), shuffle=False, drop_last=False, num_workers=0)
        b = dl.one_batch()
        b = tuple(b) if isinstance(b, (tuple, list)) else (b,)
        got = _n_items(b)
        if got != len(order):
            raise ValueError(
                f"plot_top_losses: asked the loader for {len(order)} items, got {got} (were some skipped?)"
            )
        return b

    def plot_top_losses(self, k: int = 9, largest: bool = True, **kwargs: Any) -> Any:
        """Show the `k` items with the largest (or smallest) losses with their prediction, target, loss
        and predicted probability; returns what the `plot_top_losses` case returns (a Figure for images).
        `kwargs` go to it (`nrows`, `ncols`, `figsize`, ...)."""
        losses, idx = self.top_losses(min(k, len(self)), largest=largest)
        b = self._batch_of(idx)
        x, y, samples, outs = self.dl.show_results(b, _take(self.decoded, idx), max_n=len(idx), show=False)
        if samples is None:
            raise TypeError("plot_top_losses: the loader's samples cannot be decoded to show them")
        raws = _take(self.preds, idx)
        return plot_top_losses(x, y, samples, outs, raws, losses, **kwargs)


class ClassificationInterpretation(Interpretation):
    """`Interpretation` of a single-label classifier (or a segmentation model, pixel by pixel): adds
    `confusion_matrix`, `most_confused` and `plot_confusion_matrix`. `vocab` holds the class names."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        vocab = getattr(self.dl.dataset, "vocab", None)
        if vocab is None:
            vocab = getattr(getattr(self.learn, "dls", None), "vocab", None)
        if vocab is None:
            raise ValueError("ClassificationInterpretation: the data has no vocab (class names)")
        if len(vocab) and isinstance(vocab[-1], (list, tuple)):
            vocab = vocab[-1]
        self.vocab = list(vocab)

    def _labels(self) -> tuple[torch.Tensor, torch.Tensor]:
        decoded, targs = self.decoded, self.targs
        if isinstance(decoded, (tuple, list)) or isinstance(targs, (tuple, list)):
            raise TypeError("ClassificationInterpretation needs one target and one prediction per item")
        d, t = torch.as_tensor(decoded), torch.as_tensor(targs)
        if d.shape != t.shape or d.is_floating_point() or t.is_floating_point() or d.dtype == torch.bool:
            raise TypeError(
                "ClassificationInterpretation needs single-label class indices: decoded predictions "
                f"{tuple(d.shape)} {d.dtype} and targets {tuple(t.shape)} {t.dtype} (multi-label data is not "
                "supported)"
            )
        d, t = d.reshape(-1).long(), t.reshape(-1).long()
        n = len(self.vocab)
        for what, v in (("prediction", d), ("target", t)):
            bad = (v < 0) | (v >= n)
            if bool(bad.any()):
                raise ValueError(
                    f"ClassificationInterpretation: a {what} is class {int(v[bad][0])}, outside the {n} "
                    "classes of the vocab"
                )
        return d, t

    def confusion_matrix(self) -> np.ndarray:
        """`(n_classes, n_classes)` counts: row = actual class, column = predicted class (vocab order)."""
        d, t = self._labels()
        n = len(self.vocab)
        return torch.bincount(t * n + d, minlength=n * n).reshape(n, n).numpy()

    def most_confused(self, min_val: int = 1) -> list[tuple[Any, Any, int]]:
        """`(actual, predicted, count)` for every pair of different classes confused at least `min_val`
        times, most frequent first."""
        cm = self.confusion_matrix()
        np.fill_diagonal(cm, 0)
        rows, cols = np.nonzero(cm >= min_val)
        pairs = [(self.vocab[i], self.vocab[j], int(cm[i, j])) for i, j in zip(rows, cols)]
        return sorted(pairs, key=lambda p: p[2], reverse=True)

    def plot_confusion_matrix(
        self,
        normalize: bool = False,
        title: str = "Confusion matrix",
        cmap: str = "Blues",
        norm_dec: int = 2,
        plot_txt: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Draw the confusion matrix (rows normalised to 1 with `normalize`), with the counts written in
        the cells when `plot_txt`; `kwargs` go to `plt.figure` (`figsize`, `dpi`). Returns the Figure."""
        import matplotlib.pyplot as plt

        cm = self.confusion_matrix().astype(float)
        if normalize:
            cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        fig = plt.figure(**kwargs)
        ax = fig.add_subplot(1, 1, 1)
        im = ax.imshow(cm, interpolation="nearest", cmap=cmap)
        ax.set_title(title)
        ticks = np.arange(len(self.vocab))
        ax.set_xticks(ticks, [str(v) for v in self.vocab], rotation=90)
        ax.set_yticks(ticks, [str(v) for v in self.vocab])
        if plot_txt:
            threshold = cm.max() / 2.0
            for i in range(cm.shape[0]):
                for j in range(cm.shape[1]):
                    text = f"{cm[i, j]:.{norm_dec}f}" if normalize else f"{int(cm[i, j])}"
                    color = "white" if cm[i, j] > threshold else "black"
                    ax.text(j, i, text, ha="center", va="center", color=color)
        ax.set_ylabel("Actual")
        ax.set_xlabel("Predicted")
        ax.grid(False)
        fig.colorbar(im, ax=ax)
        fig.tight_layout()
        return fig


# ---- showing the top losses --------------------------------------------------------------------------------
def _probability(raw: Any) -> float | None:
    """The predicted class's probability (the largest value of a vector of scores), None for other outputs."""
    if isinstance(raw, torch.Tensor) and raw.ndim == 1 and raw.is_floating_point():
        return float(raw.max())
    return None


def _cell(o: Any) -> Any:
    """A value for a table cell: a number for a one-element tensor, else its text."""
    if isinstance(o, torch.Tensor):
        return o.item() if o.numel() == 1 else str(o.tolist())
    return _title_text(o)


def _caption(pred: Any, target: Any, loss: float, prob: float | None) -> str:
    text = f"{_title_text(pred)}/{_title_text(target)} / {loss:.2f}"
    return text if prob is None else f"{text} / {prob:.2f}"


@typedispatch
def plot_top_losses(
    x: Any,
    y: Any,
    samples: Sequence[Any],
    outs: Sequence[Any],
    raws: Any,
    losses: torch.Tensor,
    **kwargs: Any,
) -> Any:
    """Any data: a `pandas.DataFrame` with one row per item (input, target, prediction, loss, probability)."""
    import pandas as pd

    rows = []
    for s, o, raw, loss in zip(samples, outs, raws, losses):
        parts, preds = _parts(s), _parts(o)
        rows.append(
            {
                "input": _cell(parts[0]),
                "target": ";".join(_title_text(t) for t in parts[1:]),
                "prediction": ";".join(_title_text(p) for p in preds),
                "loss": float(loss),
                "probability": _probability(raw),
            }
        )
    return pd.DataFrame(rows)


@typedispatch
def plot_top_losses(  # noqa: F811 (one case per type pair)
    x: TensorImage,
    y: Any,
    samples: Sequence[Any],
    outs: Sequence[Any],
    raws: Any,
    losses: torch.Tensor,
    **kwargs: Any,
) -> Any:
    """Images: one Axes per item titled `prediction/actual / loss / probability` for category targets;
    otherwise the target (left) beside the prediction (right, titled with the loss). Returns the Figure."""
    samples, outs = list(samples), list(outs)
    grid, kwargs = _split_kwargs(kwargs)
    targets = _parts(samples[0])[1:]
    if targets and all(_is_title(t) for t in targets):
        fig, axs = _grid(len(samples), None, **grid)
        for s, o, raw, loss, ax in zip(samples, outs, raws, losses, axs):
            parts, preds = _parts(s), _parts(o)
            _show_parts(parts[:1], ax, **kwargs)
            ax.set_title(_caption(preds[0], parts[1], float(loss), _probability(raw)))
        fig.suptitle("Prediction/Actual/Loss/Probability")
        return fig
    fig, axs = _grid(len(samples), None, double=True, **grid)
    for k, (s, o, loss) in enumerate(zip(samples, outs, losses)):
        parts, preds = _parts(s), _parts(o)
        left, right = axs[2 * k], axs[2 * k + 1]
        _show_parts(parts, left, **kwargs)
        _show_parts(parts[:1] + preds, right, **kwargs)
        left.set_title("target")
        right.set_title(f"prediction / loss {float(loss):.2f}")
    return fig
