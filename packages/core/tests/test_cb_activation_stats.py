"""ActivationStats: per-layer mean/std/near-zero share and histograms on training batches, plots."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import TensorDataset

from lamina.core.callbacks.activation_stats import ActivationStats
from lamina.core.data.loaders import DataLoaders
from lamina.core.learner.callback import Callback
from lamina.core.learner.learner import Learner
from lamina.core.optim.optimizers import SGD


class Inputs(Callback):
    order = 100

    def __init__(self):
        self.batches = []

    def before_batch(self):
        if self.training:
            self.batches.append(self.xb[0].clone())


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


def learner(stats, n=24, bs=4, lr=0.0):
    g = torch.Generator().manual_seed(0)
    ds = TensorDataset(torch.randn(n, 4, generator=g) * 3, torch.randn(n, 2, generator=g))
    dls = DataLoaders(TorchDataLoader(ds, batch_size=bs), TorchDataLoader(ds, batch_size=bs))
    inputs = Inputs()
    cbs = [inputs] if stats is None else [stats, inputs]
    learn = Learner(dls, model(), loss_func=F.mse_loss, opt_func=SGD, lr=lr, cbs=cbs, default_cbs=False)
    return learn, inputs


def test_stats_per_training_batch_and_layer_match_a_direct_computation():
    stats = ActivationStats(near_zero=0.5)
    learn, inputs = learner(stats)  # lr 0: the weights stay fixed, so outputs can be recomputed
    learn.fit(2)
    assert stats.layer_names == ["0", "2"]
    assert stats.stats.shape == (12, 2, 3)  # 6 training batches x 2 epochs; validation not recorded
    m = learn.model
    for k in (0, 7):
        x = inputs.batches[k]
        with torch.no_grad():
            h0 = m[0](x)
            h2 = m[2](m[1](h0))
        for layer, h in enumerate((h0, h2)):
            expected = torch.stack([h.mean(), h.std(), (h.abs() <= 0.5).float().mean()])
            torch.testing.assert_close(stats.stats[k, layer], expected)
    torch.testing.assert_close(stats.means, stats.stats[..., 0])
    torch.testing.assert_close(stats.stds, stats.stats[..., 1])
    torch.testing.assert_close(stats.near_zero_shares, stats.stats[..., 2])


def test_every_and_chosen_modules():
    learn, _ = learner(None)
    stats = ActivationStats(modules=[learn.model[1]], every=4)
    learn.add_cb(stats)
    learn.fit(2)  # train_iter 0..11: records at 0, 4, 8
    assert stats.layer_names == ["1"] and stats.stats.shape == (3, 1, 3)
    assert ((stats.near_zero_shares > 0.2) & (stats.near_zero_shares < 1)).all()  # a ReLU output: many zeros


def test_histograms_count_the_values_in_range():
    stats = ActivationStats(with_hist=True, hist_bins=10, hist_range=(-2.0, 2.0))
    learn, inputs = learner(stats)
    learn.fit(1)
    hists = stats.hists
    assert hists.shape == (6, 2, 10)
    x = inputs.batches[0]
    with torch.no_grad():
        h0 = learn.model[0](x)
    assert hists[0, 0].sum().item() == ((h0 >= -2) & (h0 <= 2)).sum().item()
    torch.testing.assert_close(hists[0, 0], torch.histc(h0, 10, -2.0, 2.0))


def test_records_restart_with_each_fit_and_hooks_go_at_the_end():
    stats = ActivationStats()
    learn, _ = learner(stats)
    learn.fit(1)
    assert len(stats.stats) == 6
    learn.model(torch.randn(3, 4))  # no hook left: nothing recorded outside a fit
    learn.validate()
    assert len(stats.stats) == 6
    learn.fit(1)
    assert len(stats.stats) == 6


def test_plots_return_figures():
    import matplotlib

    matplotlib.use("Agg")
    stats = ActivationStats(with_hist=True)
    learn, _ = learner(stats, lr=0.1)
    learn.fit(1)
    fig = stats.plot_layer_stats(0)
    assert len(fig.axes) == 3 and len(fig.axes[0].lines[0].get_ydata()) == 6
    fig = stats.color_dim()
    assert len(fig.axes) == 2 and fig.axes[0].images[0].get_array().shape == (40, 6)
    assert len(stats.color_dim(-1).axes) == 1
    with pytest.raises(IndexError, match="out of range"):
        stats.plot_layer_stats(5)


def test_color_dim_needs_histograms():
    stats = ActivationStats()
    learn, _ = learner(stats)
    learn.fit(1)
    with pytest.raises(ValueError, match="with_hist=True"):
        stats.color_dim()


def test_no_host_read_per_batch(monkeypatch):
    """Statistics stay on the device until the end of the epoch: `.cpu()` is called once per epoch."""
    stats = ActivationStats(with_hist=True)
    learn, _ = learner(stats)
    calls = []

    class Count(Callback):
        order = 200

        def after_batch(self):
            calls.append(("batch", self.training))

    learn.add_cb(Count())
    original = torch.Tensor.cpu
    moves = []

    def counting_cpu(self, *args, **kwargs):
        moves.append(len(calls))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "cpu", counting_cpu)
    learn.fit(2)
    monkeypatch.undo()
    assert len(moves) == 4  # stats and hists, once per epoch
    assert moves[0] == 12 and moves[2] == 24  # after epoch 0's 6 train + 6 valid batches, then epoch 1's


def test_bad_arguments():
    with pytest.raises(ValueError, match="every"):
        ActivationStats(every=0)
    with pytest.raises(ValueError, match="hist_range"):
        ActivationStats(hist_range=(1.0, 1.0))
