"""The paper's "incrementally adapting PyTorch code" example, as printed.

A plain PyTorch `Net` and two plain `torch.utils.data.DataLoader`s go straight into Lamina's
`DataLoaders` and `Learner`. The data is the real MNIST sample in `../shared/data/mnist_sample`
(override with `LAMINA_SHARED_DATA`); run `python examples/paper/pytorch_adaptation.py`.
"""

import os
from pathlib import Path

import numpy as np
from PIL import Image
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import TensorDataset

from lamina.core.all import *

DATA = Path(os.environ.get("LAMINA_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))


def mnist_split(split: str) -> TensorDataset:
    files = sorted((DATA / "mnist_sample" / split).glob("*/*.png"))
    x = torch.tensor(np.stack([np.array(Image.open(f)) for f in files]), dtype=torch.float32)[:, None] / 255.0
    return TensorDataset(x, torch.tensor([int(f.parent.name) for f in files]))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return F.log_softmax(self.fc2(x), dim=1)


if __name__ == "__main__":
    train_loader = TorchDataLoader(mnist_split("train"), batch_size=64, shuffle=True)
    test_loader = TorchDataLoader(mnist_split("valid"), batch_size=256)
    # --- the paper's lines ---
    data = DataLoaders(train_loader, test_loader)
    learn = Learner(data, Net(), loss_func=F.nll_loss, opt_func=Adam, metrics=accuracy)
    learn.fit_one_cycle(1, 1e-2)
