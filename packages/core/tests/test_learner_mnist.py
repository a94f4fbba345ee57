"""Training on real data: MNIST digits from /work/shared/data/mnist_sample (3000 train / 1000 valid PNGs).

- a small MLP on the pixels, with a two-way callback that augments each training batch, reaches
  at least 95% validation accuracy;
- the paper's "adapting PyTorch code" example runs as written: a plain `nn.Module`, two plain torch
  DataLoaders, `DataLoaders(train_loader, test_loader)`, `Learner(..., loss_func=F.nll_loss,
  opt_func=Adam, metrics=accuracy)` and `fit_one_cycle`.
"""

import csv
import functools
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import TensorDataset

from lamina.core.data.loaders import DataLoaders
from lamina.core.learner.callback import Callback
from lamina.core.learner.learner import Learner
from lamina.core.metrics import accuracy
from lamina.core.optim.optimizers import Adam


@functools.lru_cache(maxsize=1)
def load_mnist_sample(root: str) -> dict:
    """`{'train': (x, y), 'valid': (x, y)}`: images as float tensors (n, 1, 28, 28) in [0, 1], labels
    as int64; cached, so the PNGs are read once per test session."""
    root = Path(root)
    with open(root / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    out = {}
    for split in ("train", "valid"):
        items = [r for r in rows if r["name"].startswith(split + "/")]
        pixels = np.stack([np.asarray(Image.open(root / r["name"])) for r in items])
        x = torch.from_numpy(pixels).float().div_(255).unsqueeze(1)
        y = torch.tensor([int(r["label"]) for r in items])
        out[split] = (x, y)
    return out


@pytest.fixture
def mnist(shared_data):
    return load_mnist_sample(str(shared_data / "mnist_sample"))


def test_sample_is_what_the_readme_says(mnist):
    (xt, yt), (xv, yv) = mnist["train"], mnist["valid"]
    assert xt.shape == (3000, 1, 28, 28) and xv.shape == (1000, 1, 28, 28)
    assert torch.bincount(yt).tolist() == [300] * 10 and torch.bincount(yv).tolist() == [100] * 10


class RandomAffine(Callback):
    """Two-way callback: replaces each training batch by randomly rotated, scaled and shifted images."""

    run_valid = False

    def __init__(self, max_rotate: float = 0.2, max_scale: float = 0.1, max_shift: float = 0.15):
        self.max_rotate, self.max_scale, self.max_shift = max_rotate, max_scale, max_shift

    def before_batch(self):
        x = self.xb[0]
        n = x.shape[0]
        angle = (torch.rand(n) * 2 - 1) * self.max_rotate
        scale = 1 + (torch.rand(n) * 2 - 1) * self.max_scale
        shift = (torch.rand(n, 2) * 2 - 1) * self.max_shift
        cos, sin = scale * angle.cos(), scale * angle.sin()
        rows = [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)]
        theta = torch.stack(rows, 1)
        grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
        self.learn.xb = (F.grid_sample(x, grid, align_corners=False),)


def mlp(mean: float, std: float) -> nn.Module:
    class Normalize(nn.Module):
        def forward(self, x):
            return (x - mean) / std

    return nn.Sequential(
        Normalize(),
        nn.Flatten(),
        nn.Linear(784, 256),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Linear(256, 256),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Linear(256, 10),
    )


def test_small_mlp_reaches_95_percent(mnist):
    torch.manual_seed(0)
    (xt, yt), (xv, yv) = mnist["train"], mnist["valid"]
    train = TorchDataLoader(TensorDataset(xt, yt), batch_size=64, shuffle=True, drop_last=True)
    valid = TorchDataLoader(TensorDataset(xv, yv), batch_size=500)
    model = mlp(xt.mean().item(), xt.std().item())
    learn = Learner(DataLoaders(train, valid), model, F.cross_entropy, metrics=accuracy, cbs=RandomAffine())
    learn.logger = lambda *a: None
    learn.fit_one_cycle(12, 3e-3)
    acc = learn.recorder.values[-1][2]
    assert acc >= 0.95, f"validation accuracy {acc:.4f}"
    preds, targs = learn.get_preds()
    assert (preds.argmax(1) == yv).float().mean().item() == pytest.approx(acc)


class Net(nn.Module):
    """The network of PyTorch's MNIST example, as in the paper."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout2d(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(self.dropout1(x), 1)
        x = self.dropout2(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


def test_paper_pytorch_adaptation_example(mnist):
    torch.manual_seed(0)
    (xt, yt), (xv, yv) = mnist["train"], mnist["valid"]
    train_loader = TorchDataLoader(TensorDataset((xt - 0.1307) / 0.3081, yt), batch_size=64, shuffle=True)
    test_loader = TorchDataLoader(TensorDataset((xv - 0.1307) / 0.3081, yv), batch_size=1000)
    data = DataLoaders(train_loader, test_loader)
    learn = Learner(data, Net(), loss_func=F.nll_loss, opt_func=Adam, metrics=accuracy)
    learn.logger = lambda *a: None
    learn.fit_one_cycle(1, 5e-3)
    assert learn.recorder.values[-1][2] >= 0.9, learn.recorder.values
