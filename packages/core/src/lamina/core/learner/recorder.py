"""`Recorder`: per-batch losses and hyper-parameters, per-epoch losses and metrics, and their plots."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import torch

from lamina.core.learner.callback import Callback

__all__ = ["Recorder", "format_time"]


def format_time(seconds: float) -> str:
    """`mm:ss`, or `h:mm:ss` from one hour on."""
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _pyplot(what: str) -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError(
            f"Recorder.{what} needs matplotlib: `pip install matplotlib` (or `pip install lamina-core[plot]`)"
        ) from e
    return plt


def _batch_size(yb: tuple) -> int:
    first = yb[0]
    if isinstance(first, torch.Tensor):
        return first.shape[0] if first.ndim else 1
    return len(first) if hasattr(first, "__len__") else 1


class _MeanLoss:
    """Batch-size-weighted mean of the batch losses: one detach per batch, the sum at the end.

    (`AvgLoss` of `lamina.core.metrics` gives the same value for metric use, with four tensor ops
    per batch; the Recorder runs on every batch, so it keeps the per-batch cost to a list append.)
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._losses: list[torch.Tensor] = []
        self._sizes: list[int] = []

    def add(self, loss: torch.Tensor, bs: int) -> None:
        loss = loss.detach()
        self._losses.append(loss.mean() if loss.ndim else loss)
        self._sizes.append(bs)

    @property
    def value(self) -> float | None:
        if not self._losses:
            return None
        losses = torch.stack(self._losses).double()
        sizes = torch.tensor(self._sizes, dtype=torch.float64, device=losses.device)
        return (losses @ sizes / sizes.sum()).item()


class _SmoothedLoss:
    """Debiased exponential moving average of the batch loss, kept as a tensor on the loss's device.

    With `a_n = beta * a_(n-1) + (1 - beta) * loss_n` the debiased value `d_n = a_n / (1 - beta**n)`
    obeys `d_n = lerp(loss_n, d_(n-1), w_n)` with `w_n = beta * (1 - beta**(n-1)) / (1 - beta**n)`:
    one tensor op per batch and no host read. (`AvgSmoothLoss` of `lamina.core.metrics` computes the
    same average for metric use, in float64, read through `.value`, a host sync.)
    """

    def __init__(self, beta: float) -> None:
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Recorder: beta must be in [0, 1), got {beta}")
        self.beta = beta
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self._value: torch.Tensor | None = None

    def add(self, loss: torch.Tensor) -> torch.Tensor:
        """Fold in one batch loss (its mean if not a scalar); returns the debiased average."""
        loss = loss.detach()
        if loss.ndim:
            loss = loss.mean()
        beta, n = self.beta, self.count + 1
        self.count = n
        if self._value is None:
            self._value = loss
        else:
            weight = beta * (1 - beta ** (n - 1)) / (1 - beta**n)
            self._value = torch.lerp(loss, self._value, weight)
        return self._value

    @property
    def value(self) -> float | None:
        """The current average as a Python float (a host read), None before any batch."""
        return None if self._value is None else self._value.item()


class Recorder(Callback):
    """Records the training: always attached by default, reachable as `learn.recorder`.

    Per training batch: the smoothed loss (`losses`, an exponential moving average with weight
    `beta`, debiased; also published as `learn.smooth_loss`), the learning rate of the last
    parameter group (`lrs`) and all its hyper-parameters (`hps`, name -> list). Per epoch: one row
    in `values` (train loss, valid loss, metrics, in the order of `metric_names` without `epoch` and
    `time`), the count of training batches so far (`iters`), and `log` (the row with epoch and time,
    which `ProgressCallback` prints). `learn.final_record` is the last row, `last_valid` the last
    validation values (`[valid_loss, *metrics]`, what `learn.validate()` returns). Nothing waits on the
    device per batch: losses stay tensors until the end of each epoch, then move to the host at once.

    `train_metrics=True` also computes the metrics on training batches; `valid_metrics=False` skips
    the validation loss and metrics. `validate()` and `get_preds()` do not touch the history.
    """

    order = 50

    def __init__(
        self,
        add_time: bool = True,
        train_metrics: bool = False,
        valid_metrics: bool = True,
        beta: float = 0.98,
    ) -> None:
        self.add_time, self.train_metrics, self.valid_metrics = add_time, train_metrics, valid_metrics
        self._avg_loss = _MeanLoss()
        self._smooth = _SmoothedLoss(beta)
        self._cancelled_train = self._cancelled_valid = False
        self._train_part: list | None = None
        self._valid_part: list | None = None
        self.last_valid: list[Any] | None = None
        self._epoch_start = time.perf_counter()
        self._reset_history()

    def _reset_history(self) -> None:
        self.lrs: list[float] = []
        self.hps: dict[str, list[Any]] = {}
        self.iters: list[int] = []
        self.values: list[list[Any]] = []
        self.log: list[Any] = []
        self.metric_names: list[str] = [
            "epoch",
            *self._column_names([]),
            *(["time"] if self.add_time else []),
        ]
        self._losses: list[float] = []
        self._pending: list[torch.Tensor] = []

    # --- what the columns are -------------------------------------------------------------------
    def _column_names(self, metric_names: Sequence[str]) -> list[str]:
        mets = list(metric_names)
        if self.train_metrics and self.valid_metrics:
            return [f"train_{n}" for n in ["loss", *mets]] + [f"valid_{n}" for n in ["loss", *mets]]
        if self.valid_metrics:
            return ["train_loss", "valid_loss", *mets]
        return ["train_loss", *(mets if self.train_metrics else [])]

    def _n_train_cols(self) -> int:
        return 1 + (len(self.learn.metrics) if self.train_metrics else 0)

    def _n_valid_cols(self) -> int:
        return 1 + len(self.learn.metrics) if self.valid_metrics else 0

    # --- events ---------------------------------------------------------------------------------
    def before_fit(self) -> None:
        if not self.learn.in_fit:  # validate()/get_preds(): keep the history of the last fit
            return
        self._reset_history()
        names = self._column_names([m.name for m in self.learn.metrics])
        self.metric_names = ["epoch", *names, *(["time"] if self.add_time else [])]
        self._smooth.reset()

    def before_epoch(self) -> None:
        self._epoch_start = time.perf_counter()
        self._train_part = self._valid_part = None
        self.log = [self.learn.epoch]

    def before_train(self) -> None:
        self._cancelled_train = False
        if self.train_metrics:
            for m in self.learn.metrics:
                m.reset()

    def before_validate(self) -> None:
        self._cancelled_valid = False
        if self.valid_metrics:
            self._avg_loss.reset()
            for m in self.learn.metrics:
                m.reset()

    def after_batch(self) -> None:
        learn = self.learn
        if not learn.yb or learn.loss is None:
            return
        if learn.training:
            value = self._smooth.add(learn.loss)  # debiased, still on the device
            learn.smooth_loss = value
            self._pending.append(value)
            hyper = learn.opt.hypers[-1]
            self.lrs.append(hyper["lr"])
            hps = self.hps
            for k, v in hyper.items():
                if k in hps:
                    hps[k].append(v)
                else:
                    hps[k] = [v]
            if self.train_metrics:
                _accumulate(learn)
        elif self.valid_metrics:
            self._avg_loss.add(learn.loss, _batch_size(learn.yb))
            _accumulate(learn)

    def after_cancel_train(self) -> None:
        self._cancelled_train = True

    def after_cancel_validate(self) -> None:
        self._cancelled_valid = True

    def after_train(self) -> None:
        if self._cancelled_train:
            self._train_part = [None] * self._n_train_cols()
            return
        smooth = self._smooth.value
        mets = [m.value for m in self.learn.metrics] if self.train_metrics else []
        self._train_part = [smooth, *mets]

    def after_validate(self) -> None:
        if not self.valid_metrics:
            self._valid_part = []
        elif self._cancelled_valid:
            self._valid_part = [None] * self._n_valid_cols()
        else:
            self._valid_part = [self._avg_loss.value, *[m.value for m in self.learn.metrics]]
        self.last_valid = list(self._valid_part)

    def after_epoch(self) -> None:
        in_fit = self.learn.in_fit
        train = self._train_part
        valid = self._valid_part
        if in_fit:  # an epoch cancelled part way still gets a full row
            train = train if train is not None else [None] * self._n_train_cols()
            valid = valid if valid is not None else [None] * self._n_valid_cols()
        row = [*(train or []), *(valid or [])]
        self.learn.final_record = row
        self.log = [self.learn.epoch, *row]
        if self.add_time:
            self.log.append(format_time(time.perf_counter() - self._epoch_start))
        if in_fit:
            self._flush()
            self.values.append(row)
            self.iters.append(len(self._losses))

    def after_fit(self) -> None:
        self._flush()

    # --- history --------------------------------------------------------------------------------
    def _flush(self) -> None:
        """Move the pending per-batch losses to the host in one transfer."""
        if self._pending:
            self._losses.extend(torch.stack(self._pending).float().cpu().tolist())
            self._pending = []

    @property
    def losses(self) -> list[float]:
        """The smoothed training loss after each training batch of the last fit."""
        self._flush()
        return self._losses

    def column(self, name: str) -> list[Any]:
        """One column of `values` by name (e.g. `'valid_loss'`, `'accuracy'`), one entry per epoch."""
        cols = self.metric_names[1:-1] if self.add_time else self.metric_names[1:]
        if name not in cols:
            raise KeyError(f"Recorder.column: no column {name!r}; the columns are {cols}")
        i = cols.index(name)
        return [row[i] if i < len(row) else None for row in self.values]

    # --- plots ----------------------------------------------------------------------------------
    def plot_loss(self, skip_start: int = 5, with_valid: bool = True, log: bool = False) -> Any:
        """The smoothed training loss per batch (skipping the first `skip_start`) and the validation
        loss at the end of each epoch; returns the matplotlib figure."""
        plt = _pyplot("plot_loss")
        fig, ax = plt.subplots()
        losses = self.losses
        ax.plot(range(skip_start, len(losses)), losses[skip_start:], label="train")
        if with_valid and "valid_loss" in self.metric_names:
            valid = self.column("valid_loss")
            pts = [(i, v) for i, v in zip(self.iters, valid) if i >= skip_start and v is not None]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], label="valid")
        ax.set_xlabel("iteration")
        ax.set_ylabel("loss")
        if log:
            ax.set_yscale("log")
        ax.legend()
        return fig

    def plot_lr(self) -> Any:
        """The learning rate (last parameter group) per training batch; returns the figure."""
        plt = _pyplot("plot_lr")
        fig, ax = plt.subplots()
        ax.plot(self.lrs)
        ax.set_xlabel("iteration")
        ax.set_ylabel("learning rate")
        return fig

    def plot_sched(
        self, keys: Sequence[str] | None = None, figsize: tuple[float, float] | None = None
    ) -> Any:
        """One panel per hyper-parameter in `keys` against the iteration (default: those that
        changed during the fit, `lr` first, else `lr` alone); returns the figure."""
        plt = _pyplot("plot_sched")
        if keys is None:
            keys = sorted((k for k, v in self.hps.items() if _varies(v)), key=lambda k: k != "lr") or ["lr"]
        missing = [k for k in keys if k not in self.hps]
        if missing:
            raise KeyError(
                f"Recorder.plot_sched: no recorded hyper-parameter {missing}; have {list(self.hps)}"
            )
        fig, axs = plt.subplots(1, len(keys), figsize=figsize or (6 * len(keys), 4), squeeze=False)
        for ax, k in zip(axs[0], keys):
            ax.plot(self.hps[k])
            ax.set_xlabel("iteration")
            ax.set_ylabel(k)
        return fig

    def plot_lr_find(
        self,
        skip_end: int = 5,
        suggestions: Sequence[tuple[float, float]] | None = None,
        nms: Sequence[str] | None = None,
    ) -> Any:
        """Smoothed loss against the learning rate (log scale) after `lr_find`, with the suggested
        points marked; returns the figure."""
        plt = _pyplot("plot_lr_find")
        fig, ax = plt.subplots()
        end = len(self.lrs) - skip_end if skip_end > 0 else len(self.lrs)
        ax.plot(self.lrs[:end], self.losses[:end])
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        for i, (lr, loss) in enumerate(suggestions or []):
            label = nms[i] if nms is not None and i < len(nms) else None
            ax.plot(lr, loss, "o", label=label)
        if nms:
            ax.legend()
        return fig


def _accumulate(learn: Any) -> None:
    for m in learn.metrics:
        try:
            m.accumulate(learn)
        except Exception as e:
            if hasattr(e, "add_note"):
                phase = "training" if learn.training else "validation"
                e.add_note(f"(metric {m.name!r} on {phase} batch {learn.iter})")
            raise


def _varies(values: list[Any]) -> bool:
    numbers = [v for v in values if isinstance(v, (int, float))]
    return bool(numbers) and any(not math.isclose(v, numbers[0]) for v in numbers)
