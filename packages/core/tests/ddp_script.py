"""Helper of `test_distributed.py`: trains a tiny classifier and writes what each process saw.

    torchrun --nproc_per_node 2 ddp_script.py OUT    # distributed: per-process bs = GLOBAL_BS // 2
    python ddp_script.py OUT                         # one process: bs = GLOBAL_BS

Each process writes `OUT/rank<r>.pt` (`rank0.pt` for one process): the Recorder's losses and values,
the dataset indices of every training batch, `validate()` and `get_preds()` results (also through a
plain torch DataLoader), the final weights, what it printed, whether logging and bars were on, and the
files `learn.save` left in its own `learn.path` (`OUT/rank<r>/models`).
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import TensorDataset

from lamina.core.callbacks.distributed import num_distrib, rank_distrib
from lamina.core.data.load import DataLoader
from lamina.core.data.loaders import DataLoaders
from lamina.core.learner.callback import Callback
from lamina.core.learner.learner import Learner
from lamina.core.metrics import accuracy
from lamina.core.optim.optimizers import Adam

GLOBAL_BS = 16
N_TRAIN, N_VALID, N_EPOCH = 100, 37, 2
TRAIN_SEED = 123


def make_datasets() -> tuple[TensorDataset, TensorDataset]:
    """Three noisy Gaussian classes in 8 dimensions (the same on every process)."""
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(3, 8, generator=g)

    def draw(n: int) -> TensorDataset:
        y = torch.randint(0, 3, (n,), generator=g)
        x = centers[y] + 1.5 * torch.randn(n, 8, generator=g)
        return TensorDataset(x, y)

    return draw(N_TRAIN), draw(N_VALID)


class RecordRun(Callback):
    """Keeps the dataset index of every training item per epoch, and how the fit was set up."""

    order = 20  # after DistributedTrainer

    def __init__(self, train_x: torch.Tensor) -> None:
        self.index = {row.numpy().tobytes(): i for i, row in enumerate(train_x)}
        self.batches: list[list[list[int]]] = []
        self.bars_on: list[bool | None] = []
        self.logger_on: list[bool] = []
        self.ddp_in_fit: list[bool] = []

    def before_epoch(self) -> None:
        self.batches.append([])
        self.bars_on.append(self.learn.progress.show_bar)
        self.logger_on.append(self.learn.logger is print)
        self.ddp_in_fit.append(isinstance(self.learn.model, DistributedDataParallel))

    def before_batch(self) -> None:
        if self.learn.training:
            rows = self.learn.xb[0]
            self.batches[-1].append([self.index[row.numpy().tobytes()] for row in rows])

    def after_epoch(self) -> None:
        self.learn.save(f"epoch{self.learn.epoch}")  # saving during the fit (model wrapped in DDP)


def make_learner(world: int, path: Path) -> Learner:
    train_ds, valid_ds = make_datasets()
    bs = GLOBAL_BS // world
    dls = DataLoaders(
        DataLoader(train_ds, bs=bs, shuffle=True, drop_last=True, seed=TRAIN_SEED),
        DataLoader(valid_ds, bs=bs),
    )
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    return Learner(
        dls,
        model,
        loss_func=nn.CrossEntropyLoss(),
        opt_func=Adam,
        lr=1e-2,
        metrics=accuracy,
        path=path,
        cbs=RecordRun(train_ds.tensors[0]),
    )


def run(out: Path) -> dict:
    """Train and evaluate in this process (distributed when launched by torchrun); returns the results."""
    torch.set_num_threads(1)
    world = max(num_distrib(), 1)
    rank = rank_distrib()
    learn = make_learner(world, out / f"rank{rank}")
    printed = io.StringIO()
    with learn.distrib_ctx():
        with contextlib.redirect_stdout(printed):
            learn.fit(N_EPOCH)
        validated = learn.validate()
        preds, targs = learn.get_preds()
        _, valid_ds = make_datasets()
        plain_preds, plain_targs = learn.get_preds(dl=TorchDataLoader(valid_ds, batch_size=5))
        learn.save("final")
        model_after = type(learn.model).__name__
    record = learn.record_run
    models = out / f"rank{rank}" / "models"
    results = {
        "world": world,
        "rank": rank,
        "losses": learn.recorder.losses,
        "values": learn.recorder.values,
        "batches": record.batches,
        "bars_on": record.bars_on,
        "logger_on": record.logger_on,
        "ddp_in_fit": record.ddp_in_fit,
        "model_after": model_after,
        "validate": validated,
        "preds": preds,
        "targs": targs,
        "plain_preds": plain_preds,
        "plain_targs": plain_targs,
        "state": {k: v.detach().cpu() for k, v in learn.model.state_dict().items()},
        "printed": printed.getvalue(),
        "saved": sorted(p.name for p in models.glob("*.pth")) if models.exists() else [],
    }
    torch.save(results, out / f"rank{rank}.pt")
    return results


if __name__ == "__main__":
    run(Path(sys.argv[1]))
