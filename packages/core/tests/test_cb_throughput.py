"""Throughput: samples per second and the share of time waiting for data, per epoch and per fit.

The two timing tests make one side clearly slow (20 ms sleeps) so their bounds hold on a busy machine."""

import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import Dataset, TensorDataset

from lamina.core.callbacks.throughput import Throughput
from lamina.core.data.loaders import DataLoaders
from lamina.core.learner.learner import Learner


class SlowItems(Dataset):
    def __init__(self, n, delay):
        self.x, self.y, self.delay = torch.randn(n, 3), torch.randn(n, 1), delay

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        time.sleep(self.delay)
        return self.x[i], self.y[i]


class SlowModel(nn.Module):
    def __init__(self, delay):
        super().__init__()
        self.lin, self.delay = nn.Linear(3, 1), delay

    def forward(self, x):
        time.sleep(self.delay)
        return self.lin(x)


def learner(ds, model, logs):
    dls = DataLoaders(TorchDataLoader(ds, batch_size=4), TorchDataLoader(ds, batch_size=4))
    learn = Learner(dls, model, loss_func=F.mse_loss, cbs=Throughput())
    learn.logger = logs.append
    return learn


def test_a_slow_loader_shows_as_time_waiting_for_data():
    logs = []
    learn = learner(SlowItems(16, delay=0.005), SlowModel(0.0), logs)
    learn.fit(2)
    tp = learn.throughput
    assert [h.epoch for h in tp.history] == [0, 1]
    assert all(h.samples == 16 for h in tp.history)
    assert tp.data_wait_share > 0.7
    h = tp.history[0]
    assert h.samples_per_sec == pytest.approx(h.samples / h.seconds)
    assert h.data_wait_share == pytest.approx(h.data_wait / h.seconds)
    assert tp.samples_per_sec < 16 / (16 * 0.005)  # cannot beat the loader
    assert any(line.startswith("Throughput: ") and "waiting for data" in line for line in logs)


def test_a_slow_model_shows_little_time_waiting_for_data():
    logs = []
    ds = TensorDataset(torch.randn(16, 3), torch.randn(16, 1))
    learn = learner(ds, SlowModel(0.02), logs)
    learn.fit(1)
    tp = learn.throughput
    assert tp.data_wait_share < 0.3
    assert tp.samples_per_sec < 4 / 0.02  # four samples per 20 ms forward at best
    assert tp.history[0].as_dict()["samples"] == 16


def test_validation_is_not_counted_and_no_summary_when_asked():
    logs = []
    ds = TensorDataset(torch.randn(12, 3), torch.randn(12, 1))
    dls = DataLoaders(TorchDataLoader(ds, batch_size=4), TorchDataLoader(ds, batch_size=2))
    learn = Learner(dls, nn.Linear(3, 1), loss_func=F.mse_loss, cbs=Throughput(print_summary=False))
    learn.logger = logs.append
    learn.fit(1)
    learn.validate()
    assert [h.samples for h in learn.throughput.history] == [12]
    assert not any(str(line).startswith("Throughput") for line in logs)


def test_nothing_measured_before_a_fit():
    tp = Throughput()
    assert tp.samples_per_sec is None and tp.data_wait_share is None
