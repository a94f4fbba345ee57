"""`Throughput`: training samples per second, and the share of the training time spent waiting for the
next batch from the data loader."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from lamina.core.callbacks.gradients import batch_size_of
from lamina.core.learner.callback import Callback

__all__ = ["Throughput", "EpochThroughput"]


@dataclass
class EpochThroughput:
    """One epoch's training phase: samples, wall seconds, samples per second, and the seconds and share
    of those seconds the loop waited for the loader."""

    epoch: int
    samples: int
    seconds: float
    samples_per_sec: float
    data_wait: float
    data_wait_share: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _model_device(model: torch.nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


class Throughput(Callback):
    """Measures each epoch's training phase: samples per second and the share of its wall time spent
    waiting for data (from the end of one batch, or the start of the phase, to the next batch being
    ready: loading, collation, batch transforms and the copy to the device; the `after_batch` work of
    the callbacks that run after this one, such as the Recorder's, counts too: it is small).

    The per-batch cost is two `time.perf_counter()` calls; nothing is read from the device. The device
    is synchronised once at the start and once at the end of each training phase, so the seconds
    cover all the work queued in it. On an accelerator the wait is the host's: with work queued on the
    device the host may wait for data while the device is still busy, so a share near 0 means the
    loader keeps up, and a high one that the device waits too. `history` keeps one `EpochThroughput`
    per epoch; a summary line is printed through `learn.logger` at the end of the fit
    (`print_summary=False`: not printed). `samples_per_sec` and `data_wait_share` are the whole fit's.
    """

    order = -5  # before_batch early: the batch-changing callbacks do not count as waiting
    run_valid = False

    def __init__(self, print_summary: bool = True) -> None:
        self.print_summary = print_summary
        self.history: list[EpochThroughput] = []
        self._sync_device = torch.device("cpu")
        self._start = self._last_end = 0.0
        self._wait = 0.0
        self._samples = 0

    def before_fit(self) -> None:
        if self.learn.in_fit:
            self.history = []
            self._sync_device = _model_device(self.learn.model)

    def before_train(self) -> None:
        _synchronize(self._sync_device)
        self._wait, self._samples = 0.0, 0
        self._start = self._last_end = time.perf_counter()

    def before_batch(self) -> None:
        self._wait += time.perf_counter() - self._last_end
        xb = self.learn.xb
        self._samples += batch_size_of(xb) if xb else 0

    def after_batch(self) -> None:
        self._last_end = time.perf_counter()

    def after_train(self) -> None:
        _synchronize(self._sync_device)
        seconds = time.perf_counter() - self._start
        if not self.learn.in_fit or seconds <= 0:
            return
        self.history.append(
            EpochThroughput(
                epoch=self.learn.epoch,
                samples=self._samples,
                seconds=seconds,
                samples_per_sec=self._samples / seconds,
                data_wait=self._wait,
                data_wait_share=self._wait / seconds,
            )
        )

    @property
    def samples_per_sec(self) -> float | None:
        """Training samples per second over the last fit (None before one)."""
        seconds = sum(h.seconds for h in self.history)
        return sum(h.samples for h in self.history) / seconds if seconds else None

    @property
    def data_wait_share(self) -> float | None:
        """The share of the last fit's training time spent waiting for data (None before one)."""
        seconds = sum(h.seconds for h in self.history)
        return sum(h.data_wait for h in self.history) / seconds if seconds else None

    def after_fit(self) -> None:
        if self.learn.in_fit and self.print_summary and self.history:
            self.learn.logger(
                f"Throughput: {self.samples_per_sec:,.1f} samples/s over {len(self.history)} epoch(s); "
                f"{100 * self.data_wait_share:.1f}% of the training time waiting for data"
            )
