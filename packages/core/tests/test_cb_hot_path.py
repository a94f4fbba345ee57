"""The training callbacks together: they compose, and none of them reads a tensor back on the host inside
a training batch (on CUDA: no synchronising call at all, checked with torch's sync debug mode)."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import TensorDataset

from lamina.core.callbacks.activation_stats import ActivationStats
from lamina.core.callbacks.cast import CastToTensor
from lamina.core.callbacks.channels_last import ChannelsLast
from lamina.core.callbacks.gradients import GradientAccumulation, GradientClip
from lamina.core.callbacks.mixed_precision import MixedPrecision
from lamina.core.callbacks.mixup import MixUp
from lamina.core.callbacks.throughput import Throughput
from lamina.core.callbacks.trackers import TerminateOnNaN
from lamina.core.data.loaders import DataLoaders
from lamina.core.learner.callback import Callback
from lamina.core.learner.learner import Learner
from lamina.core.losses import CrossEntropyLossFlat


def conv_net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)
    )


def image_dls(device="cpu"):
    g = torch.Generator().manual_seed(0)
    x, y = (
        torch.randn(24, 3, 6, 6, generator=g).to(device),
        torch.randint(0, 3, (24,), generator=g).to(device),
    )
    ds = TensorDataset(x, y)
    return DataLoaders(TorchDataLoader(ds, batch_size=4), TorchDataLoader(ds, batch_size=8))


def all_callbacks():
    return [
        MixUp(0.4),
        GradientAccumulation(n_acc=8),
        GradientClip(1.0),
        MixedPrecision("bf16"),
        ChannelsLast(),
        CastToTensor(),
        Throughput(print_summary=False),
        ActivationStats(with_hist=True),
    ]


class Window:
    """`open` from the first `before_batch` callback to the last `after_batch` one, in training."""

    def __init__(self):
        self.open = False
        window = self

        class Open(Callback):
            order = -1000

            def before_batch(self):
                window.open = self.training

        class Close(Callback):
            order = 1000

            def after_batch(self):
                window.open = False

        self.cbs = [Open(), Close()]


def test_the_callbacks_compose_and_read_nothing_back_inside_training_batches(monkeypatch):
    window, reads = Window(), []

    def spy(name):
        original = getattr(torch.Tensor, name)

        def wrapper(self, *args, **kwargs):
            if window.open:
                reads.append(name)
            return original(self, *args, **kwargs)

        return wrapper

    learn = Learner(
        image_dls(), conv_net(), loss_func=CrossEntropyLossFlat(), cbs=[*all_callbacks(), *window.cbs]
    )
    learn.logger = lambda *a: None
    for name in ("item", "tolist", "__float__", "__bool__", "__int__", "numpy", "cpu"):
        monkeypatch.setattr(torch.Tensor, name, spy(name))
    learn.fit(2)
    monkeypatch.undo()
    assert reads == []
    assert learn.gradient_accumulation.steps == 6  # 24 samples / 8 per step, two epochs
    assert learn.activation_stats.stats.shape == (12, 2, 3)  # conv and linear
    assert [h.samples for h in learn.throughput.history] == [24, 24]
    assert all(v is not None for v in learn.recorder.values[-1])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.filterwarnings("ignore:Synchronization debug mode is a prototype")
def test_no_device_sync_inside_training_batches_on_cuda():
    class Strict(Callback):
        order = -1000

        def before_batch(self):
            if self.training:
                torch.cuda.set_sync_debug_mode("error")

    class Relax(Callback):
        order = 1000

        def after_batch(self):
            torch.cuda.set_sync_debug_mode(0)

    cbs = [*all_callbacks(), TerminateOnNaN(), Strict(), Relax()]
    learn = Learner(image_dls("cuda"), conv_net().cuda(), loss_func=CrossEntropyLossFlat(), cbs=cbs)
    learn.logger = lambda *a: None
    try:
        learn.fit(2)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert learn.terminate_on_nan.stopped_at is None and len(learn.recorder.values) == 2
