"""`ActivationStats`: per training batch, the mean, standard deviation and share of near-zero values of
each layer's output (and optionally their histogram), with the plots that show how training goes:
the statistics against the batch, and the "colourful dimension" plot of the histograms."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from lamina.core.hooks import Hooks, flatten_model, has_params
from lamina.core.learner.callback import Callback

__all__ = ["ActivationStats"]

STAT_NAMES = ("mean", "std", "near_zero")


def _first_tensor(out: Any) -> torch.Tensor | None:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    return None


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("ActivationStats plots need matplotlib: `pip install matplotlib`") from e
    return plt


class ActivationStats(Callback):
    """Records statistics of the outputs of `modules` (default: every leaf layer with parameters) on
    training batches: every batch, or every `every`-th one.

    - `stats`: a `(records, layers, 3)` tensor of mean, std and the share of values with
      `|x| <= near_zero` (also as `means`, `stds`, `near_zero_shares`, each `(records, layers)`);
    - with `with_hist`: `hists`, `(records, layers, hist_bins)` counts of the values in `hist_range`;
    - `layer_names`: the modules' names in the model; `plot_layer_stats(i)` and `color_dim(i)` draw them
      (matplotlib figures returned).

    The statistics are computed on the device in the forward hooks and moved to the CPU once per epoch:
    no host read per batch. Each record costs a few reductions per layer (plus a histogram with
    `with_hist`); use `every` on big models. Hooks are placed at the start of each fit and removed at its
    end; the records restart with each fit.
    """

    order = -20
    run_valid = False

    def __init__(
        self,
        modules: Sequence[nn.Module] | None = None,
        every: int | None = None,
        with_hist: bool = False,
        hist_bins: int = 40,
        hist_range: tuple[float, float] = (0.0, 10.0),
        near_zero: float = 0.05,
    ) -> None:
        if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
            raise ValueError(f"ActivationStats: every must be None or a positive int, got {every!r}")
        if hist_range[0] >= hist_range[1]:
            raise ValueError(
                f"ActivationStats: hist_range must be (low, high) with low < high, got {hist_range}"
            )
        self.modules = None if modules is None else list(modules)
        self.every, self.with_hist = every, with_hist
        self.hist_bins, self.hist_range, self.near_zero = int(hist_bins), tuple(hist_range), float(near_zero)
        self.layer_names: list[str] = []
        self._hooks: Hooks | None = None
        self._recording = False
        self._pending: list[tuple[torch.Tensor, torch.Tensor | None]] = []
        self._stats: list[torch.Tensor] = []
        self._hists: list[torch.Tensor] = []

    # --- hooks ------------------------------------------------------------------------------------
    def _measure(self, module: nn.Module, inputs: Any, output: Any) -> Any:
        if not self._recording:
            return None
        x = _first_tensor(output)
        if x is None or not x.is_floating_point() or x.numel() == 0:
            return None
        x = x.float()
        stats = torch.stack(
            [
                x.mean(),
                x.std() if x.numel() > 1 else x.new_zeros(()),
                (x.abs() <= self.near_zero).float().mean(),
            ]
        )
        hist = x.histc(self.hist_bins, *self.hist_range) if self.with_hist else None
        return stats, hist

    def _targets(self) -> list[nn.Module]:
        model = self.learn.model
        if self.modules is not None:
            return self.modules
        found = [m for m in flatten_model(model) if has_params(m)]
        if not found:
            raise ValueError(f"ActivationStats: {type(model).__name__} has no layer with parameters to watch")
        return found

    def _remove_hooks(self) -> None:
        if self._hooks is not None:
            self._hooks.remove()
            self._hooks = None

    # --- events -----------------------------------------------------------------------------------
    def before_fit(self) -> None:
        if not self.learn.in_fit:
            return
        self._remove_hooks()
        modules = self._targets()
        names = {id(m): n for n, m in self.learn.model.named_modules()}
        self.layer_names = [names.get(id(m), type(m).__name__) or type(m).__name__ for m in modules]
        self._hooks = Hooks(modules, self._measure)
        self._pending, self._stats, self._hists = [], [], []

    def before_batch(self) -> None:
        self._recording = self._hooks is not None and (
            self.every is None or self.learn.train_iter % self.every == 0
        )

    def after_batch(self) -> None:
        if not self._recording:
            return
        self._recording = False
        stored = [h.stored for h in self._hooks]
        for h in self._hooks:
            h.stored = None
        if all(s is None for s in stored):
            return
        nan_stats = torch.full((3,), float("nan"))
        nan_hist = torch.full((self.hist_bins,), float("nan"))
        device = next(s[0].device for s in stored if s is not None)
        stats = torch.stack([s[0] if s is not None else nan_stats.to(device) for s in stored])
        hist = None
        if self.with_hist:
            hist = torch.stack([s[1] if s is not None else nan_hist.to(device) for s in stored])
        self._pending.append((stats, hist))

    def after_epoch(self) -> None:
        self._flush()

    def after_fit(self) -> None:
        if self.learn.in_fit:
            self._remove_hooks()
            self._flush()

    def _flush(self) -> None:
        """Move the pending records to the CPU in one transfer."""
        if not self._pending:
            return
        self._stats.append(torch.stack([s for s, _ in self._pending]).cpu())
        if self.with_hist:
            self._hists.append(torch.stack([h for _, h in self._pending]).cpu())
        self._pending = []

    # --- results ----------------------------------------------------------------------------------
    @property
    def stats(self) -> torch.Tensor:
        """`(records, layers, 3)`: mean, std and near-zero share of each watched layer's output."""
        self._flush()
        if not self._stats:
            return torch.empty(0, len(self.layer_names), 3)
        return torch.cat(self._stats)

    @property
    def means(self) -> torch.Tensor:
        return self.stats[..., 0]

    @property
    def stds(self) -> torch.Tensor:
        return self.stats[..., 1]

    @property
    def near_zero_shares(self) -> torch.Tensor:
        return self.stats[..., 2]

    @property
    def hists(self) -> torch.Tensor:
        """`(records, layers, hist_bins)` histogram counts (needs `with_hist=True`)."""
        if not self.with_hist:
            raise ValueError("ActivationStats: histograms were not recorded; create it with with_hist=True")
        self._flush()
        if not self._hists:
            return torch.empty(0, len(self.layer_names), self.hist_bins)
        return torch.cat(self._hists)

    def _layer(self, idx: int) -> int:
        n = len(self.layer_names)
        if not -n <= idx < n:
            raise IndexError(f"ActivationStats: layer {idx} out of range; {n} layers were watched")
        return idx % n

    # --- plots ------------------------------------------------------------------------------------
    def plot_layer_stats(self, idx: int) -> Any:
        """Mean, std and near-zero share of layer `idx`'s output against the recorded batch; a figure."""
        idx = self._layer(idx)
        plt = _pyplot()
        stats = self.stats[:, idx]
        fig, axs = plt.subplots(1, 3, figsize=(15, 3.5))
        titles = ("mean", "std", f"share with |x| <= {self.near_zero:g}")
        for i, (ax, title) in enumerate(zip(axs, titles)):
            ax.plot(stats[:, i].numpy())
            ax.set_title(title)
            ax.set_xlabel("record")
        fig.suptitle(self.layer_names[idx])
        return fig

    def color_dim(self, idx: int | None = None, figsize: tuple[float, float] | None = None) -> Any:
        """The "colourful dimension" plot: for layer `idx` (None: every layer, one panel each), the
        histogram of its activations at each record as one column, in log scale (bright: many values),
        the batches from left to right and `hist_range` from bottom to top; a figure."""
        hists = self.hists
        plt = _pyplot()
        layers = range(len(self.layer_names)) if idx is None else [self._layer(idx)]
        n = len(layers)
        cols = min(n, 4)
        rows = -(-n // cols)
        fig, axs = plt.subplots(rows, cols, figsize=figsize or (4 * cols, 3 * rows), squeeze=False)
        for ax, layer in zip(axs.flat, layers):
            image = hists[:, layer].nan_to_num(0).log1p().T.numpy()
            ax.imshow(image, origin="lower", aspect="auto", extent=(0, max(len(hists), 1), *self.hist_range))
            ax.set_title(self.layer_names[layer])
            ax.set_xlabel("record")
        for ax in list(axs.flat)[n:]:
            ax.axis("off")
        return fig
