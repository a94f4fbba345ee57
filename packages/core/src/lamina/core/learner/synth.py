"""A tiny synthetic regression task (`y = 2x + 3` plus noise) for trying out callbacks and for tests."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import TensorDataset

from lamina.core.data.loaders import DataLoaders

__all__ = ["RegModel", "synth_dls", "synth_learner"]


class RegModel(nn.Module):
    """`a * x + b` with two scalar parameters, both starting at 0."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.zeros(1))
        self.b = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.a + self.b


def _dataset(n: int, generator: torch.Generator) -> TensorDataset:
    x = torch.randn(n, 1, generator=generator)
    y = 2 * x + 3 + 0.1 * torch.randn(n, 1, generator=generator)
    return TensorDataset(x, y)


def synth_dls(n_train: int = 160, n_valid: int = 32, bs: int = 16, seed: int = 0) -> DataLoaders:
    """`DataLoaders` of two plain torch loaders over `(x, y)` pairs with `y = 2x + 3 + noise`; the
    training one shuffles (with its own seeded generator, so runs repeat)."""
    g = torch.Generator().manual_seed(seed)
    train = TorchDataLoader(
        _dataset(n_train, g), batch_size=bs, shuffle=True, generator=torch.Generator().manual_seed(seed)
    )
    valid = TorchDataLoader(_dataset(n_valid, g), batch_size=bs)
    return DataLoaders(train, valid)


def synth_learner(
    n_train: int = 160, n_valid: int = 32, bs: int = 16, seed: int = 0, lr: float = 1e-2, **kwargs: Any
) -> Any:
    """A `Learner` fitting `RegModel` to `synth_dls(...)` with MSE loss; `kwargs` go to `Learner`
    (e.g. `cbs`, `metrics`, `opt_func`)."""
    from lamina.core.learner.learner import Learner

    kwargs.setdefault("loss_func", nn.functional.mse_loss)
    dls = synth_dls(n_train=n_train, n_valid=n_valid, bs=bs, seed=seed)
    return Learner(dls, RegModel(), lr=lr, **kwargs)
