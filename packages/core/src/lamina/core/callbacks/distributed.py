"""Distributed data-parallel training launched by `torchrun`: `learn.to_distributed()`, `learn.distrib_ctx()`.

One process per device runs the same script (`torchrun --nproc_per_node N train.py`). Inside
`with learn.distrib_ctx(): learn.fit(...)` each process

- joins the default process group, created from torchrun's environment when none exists yet (`nccl`
  on GPUs, `gloo` on CPUs) and picks its GPU from `$LOCAL_RANK`;
- trains `learn.model` wrapped in `torch.nn.parallel.DistributedDataParallel` (during each fit; with
  `sync_bn`, BatchNorm layers become `SyncBatchNorm` on GPUs), so gradients are averaged over processes;
- reads its own share of every loader (`rank_share`): each epoch's order is computed with the same
  seed on every rank; global batch `k` is `order[k*G:(k+1)*G]` (`G = bs * world_size`, `bs` being
  the loader's batch size, i.e. per process) and rank `r` takes its `r`-th slice of `bs` items. A loader
  with `drop_last=True` drops the last incomplete global batch; otherwise the order is padded by
  repeating its first items up to a multiple of the world size and the last global batch is split
  evenly (every rank always runs the same number of batches, which DDP needs);
- reports the training loss averaged over the processes (the loss of the global batch) and computes
  validation loss and metrics on predictions and targets gathered from every rank, with the padding
  removed: they equal the single-process values, and `get_preds` returns every item in dataset order;
- prints the results table and the progress bars on rank 0 only; `learn.save` writes on rank 0 only
  and `learn.load` waits for every rank first (`distrib_barrier`).

Outside a torchrun launch `distrib_ctx` changes nothing, so the same script runs on one process.
See `docs/distributed.md` for the launch commands (one machine, several machines).
"""

from __future__ import annotations

import itertools
import os
import random
import warnings
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import RandomSampler, Sampler, SequentialSampler

from lamina.core.basics.meta import patch, patch_to
from lamina.core.data.load import DataLoader
from lamina.core.learner.callback import Callback
from lamina.core.learner.learner import Learner
from lamina.core.learner.preds import GatherPredsCallback
from lamina.core.learner.progress import ProgressCallback
from lamina.core.learner.ranks import (  # noqa: F401  (re-exported)
    _initialized,
    distrib_barrier,
    local_rank_distrib,
    num_distrib,
    rank_distrib,
)

__all__ = [
    "setup_distrib",
    "teardown_distrib",
    "rank_share",
    "shard_loader",
    "gather_batch",
    "DistributedTrainer",
]

_LAUNCH_VARS = ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE")


# ---- the process group ------------------------------------------------------------------------
def _use_cuda() -> bool:
    return torch.cuda.is_available()


def setup_distrib(cuda_id: int | None = None, backend: str | None = None) -> bool:
    """Prepare this process for distributed training; True when it created the process group.

    On a machine with CUDA, selects GPU `cuda_id` (default `$LOCAL_RANK`). When launched by torchrun
    (`$WORLD_SIZE` set) and no process group exists, creates the default one from the environment
    (`init_method='env://'`) with `backend` (default `nccl` with CUDA, `gloo` without). Outside a
    launch it does nothing and returns False.
    """
    if _use_cuda() and (cuda_id is not None or "LOCAL_RANK" in os.environ):
        torch.cuda.set_device(local_rank_distrib() if cuda_id is None else int(cuda_id))
    if _initialized() or "WORLD_SIZE" not in os.environ:
        return False
    if not dist.is_available():
        raise RuntimeError("setup_distrib: this PyTorch build has no torch.distributed support")
    missing = [name for name in _LAUNCH_VARS if name not in os.environ]
    if missing:
        raise RuntimeError(
            f"setup_distrib: $WORLD_SIZE is set but {', '.join('$' + m for m in missing)} not; launch the "
            "script with `torchrun --nproc_per_node N script.py` (which sets them all)"
        )
    dist.init_process_group(backend=backend or ("nccl" if _use_cuda() else "gloo"), init_method="env://")
    return True


def teardown_distrib() -> None:
    """Destroy the default process group (if there is one)."""
    if _initialized():
        dist.destroy_process_group()


def _collective_device() -> torch.device:
    """Where tensors must live for collectives of the default group: the current GPU with nccl."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _common_seed(seed: int | None) -> int:
    """`seed`, or one drawn on rank 0 and sent to every rank (so all ranks shuffle alike)."""
    if seed is not None:
        return int(seed)
    value = torch.tensor([random.getrandbits(62) if dist.get_rank() == 0 else 0], device=_collective_device())
    dist.broadcast(value, src=0)
    return int(value.item())


# ---- sharding ---------------------------------------------------------------------------------
def _share_sizes(n: int, world_size: int, bs: int, drop_last: bool) -> tuple[int, int]:
    """(items of the epoch after padding or dropping, items per rank)."""
    global_bs = bs * world_size
    total = n // global_bs * global_bs if drop_last else -(-n // world_size) * world_size
    return total, total // world_size


def rank_share(order: Sequence, rank: int, world_size: int, bs: int, drop_last: bool = False) -> list:
    """Rank `rank`'s samples of one epoch whose samples are `order` (the same on every rank).

    Global batch `k` is `order[k*G:(k+1)*G]` with `G = bs * world_size`; rank `r` takes items
    `[r*bs, (r+1)*bs)` of it, so the ranks' batches `k` together are the single-process batch `k` of
    size `G`. `drop_last` drops the last incomplete global batch. Otherwise `order` is padded by
    repeating its first items to a multiple of `world_size`, and the last incomplete global batch is
    split into equal parts. Every rank gets the same number of samples.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank_share: rank {rank} is outside [0, world_size={world_size})")
    if bs < 1:
        raise ValueError(f"rank_share: bs must be >= 1, got {bs}")
    n, global_bs = len(order), bs * world_size
    if n == 0:
        raise ValueError("rank_share: the epoch has no samples to share")
    total, _ = _share_sizes(n, world_size, bs, drop_last)
    if total == 0:
        raise ValueError(
            f"rank_share: drop_last=True with {n} samples and a global batch of {global_bs} "
            f"(bs={bs} x {world_size} processes) leaves no batch; lower bs or set drop_last=False"
        )
    order = list(order) if total <= n else list(itertools.islice(itertools.cycle(order), total))
    full = total // global_bs
    out = []
    for k in range(full):
        start = k * global_bs + rank * bs
        out.extend(order[start : start + bs])
    rest = total - full * global_bs
    if rest:
        part = rest // world_size
        start = full * global_bs + rank * part
        out.extend(order[start : start + part])
    return out


class _RankIdxs:
    """The `get_idxs` hook of a sharded lamina `DataLoader`: the loader's own epoch order (its
    original `get_idxs`, computed with the full item count and the seed every rank shares), then
    this rank's `rank_share` of it. `real_count` is the epoch's item count before padding."""

    def __init__(self, loader: DataLoader, inner: Any, rank: int, world_size: int, full_n: int) -> None:
        self._loader_ref = weakref.ref(loader)
        self.inner, self.rank, self.world_size, self.full_n = inner, rank, world_size, full_n
        self.real_count = full_n

    @property
    def loader(self) -> DataLoader:
        loader = self._loader_ref()
        if loader is None:
            raise RuntimeError("sharded DataLoader: the loader of this get_idxs hook no longer exists")
        return loader

    def __getstate__(self) -> dict:  # spawned workers: carry the loader itself
        state = self.__dict__.copy()
        state["_loader_ref"] = self.loader
        return state

    def __setstate__(self, state: dict) -> None:
        loader = state.pop("_loader_ref")
        self.__dict__.update(state)
        self._loader_ref = lambda: loader

    def __call__(self) -> list:
        dl = self.loader
        bs = dl.bs or 1
        share_n = dl.n
        dl.n = self.full_n  # the original hook makes the whole epoch
        try:
            order = list(self.inner() if self.inner is not None else type(dl).get_idxs(dl))
        finally:
            dl.n = share_n
        self.real_count = len(order)
        share = rank_share(order, self.rank, self.world_size, bs, bool(dl.drop_last))
        dl.n = len(share)
        return share


class _RankBatchSampler(Sampler):
    """Batch sampler of a sharded torch `DataLoader`: each epoch a permutation (from a generator
    seeded alike on every rank) or the dataset order, then this rank's `rank_share`, in batches."""

    def __init__(
        self, n: int, bs: int, rank: int, world_size: int, shuffle: bool, drop_last: bool, seed: int
    ) -> None:
        self.n, self.bs, self.rank, self.world_size = n, bs, rank, world_size
        self.shuffle, self.drop_last = shuffle, drop_last
        self.generator = torch.Generator().manual_seed(seed)
        self.real_count = n

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(self.n, generator=self.generator).tolist() if self.shuffle else range(self.n)
        share = rank_share(order, self.rank, self.world_size, self.bs, self.drop_last)
        for i in range(0, len(share), self.bs):
            yield share[i : i + self.bs]

    def __len__(self) -> int:
        _, per_rank = _share_sizes(self.n, self.world_size, self.bs, self.drop_last)
        return -(-per_rank // self.bs)


def _shard_lamina(dl: DataLoader, rank: int, world_size: int, seed: int) -> DataLoader:
    if not dl.indexed:
        raise TypeError(
            "shard_loader: the loader reads a stream (an iterable dataset), which cannot be shared out by "
            "index; give each rank its own part of the stream, or use a map-style dataset"
        )
    if dl.n is None:
        raise TypeError("shard_loader: the loader has no item count (n); pass n= to the DataLoader")
    shard = dl.new(seed=seed)
    inner = shard.__dict__.get("get_idxs")  # a get_idxs given as a keyword; else the class's method
    hook = _RankIdxs(shard, inner, rank, world_size, dl.n)
    shard.get_idxs = hook
    _, shard.n = _share_sizes(dl.n, world_size, dl.bs or 1, bool(dl.drop_last))
    return shard


def _shard_torch(dl: TorchDataLoader, rank: int, world_size: int, seed: int | None) -> TorchDataLoader:
    if dl.batch_size is None:
        raise TypeError(
            "shard_loader: a torch DataLoader with a custom batch_sampler (batch_size=None) cannot be "
            "sharded; use batch_size= with shuffle=True/False"
        )
    sampler = dl.sampler
    shuffle = isinstance(sampler, RandomSampler)
    if shuffle and (sampler.replacement or sampler.num_samples != len(dl.dataset)):
        raise TypeError("shard_loader: a RandomSampler with replacement or num_samples cannot be sharded")
    if not shuffle and not isinstance(sampler, SequentialSampler):
        raise TypeError(
            f"shard_loader: a torch DataLoader with a {type(sampler).__name__} cannot be sharded; only "
            "shuffle=True or shuffle=False loaders can (or use a lamina DataLoader)"
        )
    if seed is None:
        generator = getattr(sampler, "generator", None)
        seed = _common_seed(generator.initial_seed() if generator is not None else None)
    batches = _RankBatchSampler(len(dl.dataset), dl.batch_size, rank, world_size, shuffle, dl.drop_last, seed)
    extra = {}
    if dl.num_workers > 0:
        extra = dict(prefetch_factor=dl.prefetch_factor, persistent_workers=dl.persistent_workers)
    return TorchDataLoader(
        dl.dataset,
        batch_sampler=batches,
        num_workers=dl.num_workers,
        collate_fn=dl.collate_fn,
        pin_memory=dl.pin_memory,
        timeout=dl.timeout,
        worker_init_fn=dl.worker_init_fn,
        multiprocessing_context=dl.multiprocessing_context,
        **extra,
    )


def shard_loader(dl: Any, rank: int, world_size: int, seed: int | None = None) -> Any:
    """A copy of `dl` that yields only rank `rank`'s share of each epoch (see `rank_share`).

    `dl` is a lamina `DataLoader` (sharded through its `get_idxs` hook; the copy's `n` and `len` are the
    rank's) or a torch `DataLoader` with `shuffle=True/False` (rebuilt with a batch sampler). `seed` is the
    shuffle seed, which must be the same on every rank; None: the loader's own `seed` if it has one,
    else one drawn on rank 0 and broadcast (this needs the process group)."""
    if isinstance(dl, DataLoader):
        if seed is None:
            seed = _common_seed(dl.seed)
        return _shard_lamina(dl, rank, world_size, seed)
    if isinstance(dl, TorchDataLoader):
        return _shard_torch(dl, rank, world_size, seed)
    raise TypeError(
        f"shard_loader: cannot share out a {type(dl).__name__} between processes; use a lamina DataLoader "
        "or a torch DataLoader"
    )


def _real_count(shard: Any) -> int | None:
    """Items of the current epoch before padding (None when unknown)."""
    for source in (getattr(shard, "__dict__", {}).get("get_idxs"), getattr(shard, "batch_sampler", None)):
        if isinstance(source, (_RankIdxs, _RankBatchSampler)):
            return source.real_count
    return None


def _settings(dl: Any) -> tuple:
    """What a sharded copy depends on: rebuild it when one of these changes."""
    names = ("bs", "batch_size", "shuffle", "drop_last", "n", "device", "num_workers", "dataset")
    return tuple(id(v) if name == "dataset" else v for name in names for v in [getattr(dl, name, None)])


# ---- gathering --------------------------------------------------------------------------------
def _tensors(x: Any) -> list[torch.Tensor]:
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, (tuple, list)):
        return [t for o in x for t in _tensors(o)]
    if isinstance(x, dict):
        return [t for v in x.values() for t in _tensors(v)]
    return []


def _rebuild(x: Any, new: Iterator[torch.Tensor]) -> Any:
    if isinstance(x, torch.Tensor):
        return next(new)
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*(_rebuild(o, new) for o in x))
    if isinstance(x, (tuple, list)):
        return type(x)(_rebuild(o, new) for o in x)
    if isinstance(x, dict):
        return {k: _rebuild(v, new) for k, v in x.items()}
    return x


def _gather_one(t: torch.Tensor, shapes: list[list[int]], where: str) -> torch.Tensor:
    world = len(shapes)
    if any(s[1:] != shapes[0][1:] for s in shapes):
        raise ValueError(
            f"gather_batch: {where} has shapes {[tuple(s) for s in shapes]} on the {world} ranks; only the "
            "first (batch) dimension may differ"
        )
    t = t.contiguous()
    longest = max(s[0] for s in shapes)
    if t.shape[0] < longest:
        t = torch.cat([t, t.new_zeros((longest - t.shape[0], *t.shape[1:]))])
    parts = [torch.empty_like(t) for _ in range(world)]
    dist.all_gather(parts, t)
    return torch.cat([p[: s[0]] for p, s in zip(parts, shapes)])


def gather_batch(x: Any) -> Any:
    """`x` (a tensor, or tuples/lists/dicts of them) with every tensor replaced by the concatenation,
    along the first dimension and in rank order, of that tensor on every rank (detached). Tensors may
    differ between ranks in their first dimension only; a 0-d tensor gives one value per rank. Other
    values are kept as they are."""
    tensors = [t.detach() for t in _tensors(x)]
    if not tensors or not _initialized() or dist.get_world_size() == 1:
        return _rebuild(x, iter(tensors))
    world, device = dist.get_world_size(), _collective_device()
    homes = [t.device for t in tensors]
    tensors = [(t.reshape(1) if t.ndim == 0 else t).to(device) for t in tensors]
    dims = torch.tensor([t.ndim for t in tensors], dtype=torch.int64)
    flat = torch.tensor([d for t in tensors for d in t.shape], dtype=torch.int64)
    local = torch.cat([dims, flat]).to(device)
    everywhere = [torch.empty_like(local) for _ in range(world)]
    dist.all_gather(everywhere, local)
    per_rank: list[list[list[int]]] = []
    for values in everywhere:
        values = values.tolist()
        ndims, sizes, shapes = values[: len(tensors)], values[len(tensors) :], []
        for nd in ndims:
            shapes.append(sizes[:nd])
            sizes = sizes[nd:]
        per_rank.append(shapes)
    gathered = [
        _gather_one(t, [per_rank[r][i] for r in range(world)], f"tensor {i} of the batch").to(home)
        for i, (t, home) in enumerate(zip(tensors, homes))
    ]
    return _rebuild(x, iter(gathered))


def _first_len(x: Any) -> int | None:
    for t in _tensors(x):
        return t.shape[0] if t.ndim else 1
    return None


def _head(x: Any, n: int) -> Any:
    return _rebuild(x, iter([t[:n] if t.ndim else t for t in _tensors(x)]))


def _mean_over_ranks(t: torch.Tensor) -> torch.Tensor:
    t = t.detach().clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t / dist.get_world_size()


# ---- the model --------------------------------------------------------------------------------
class _DDP(DistributedDataParallel):
    """`DistributedDataParallel` whose `state_dict`/`load_state_dict` are the wrapped module's (no
    `module.` prefix), so `learn.save` during a fit writes files that load into the plain model."""

    def state_dict(self, *args: Any, **kwargs: Any) -> Any:
        return self.module.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict: Any, strict: bool = True, **kwargs: Any) -> Any:
        return self.module.load_state_dict(state_dict, strict=strict, **kwargs)


def _plain_model(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


def _model_device(model: nn.Module) -> torch.device:
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    return first.device if first is not None else torch.device("cpu")


def _has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


def _loaders_of(dls: Any) -> list[Any]:
    loaders = getattr(dls, "loaders", None)
    if isinstance(loaders, list):
        return list(loaders)
    found = []
    for role in ("train", "valid"):
        try:
            found.append(getattr(dls, role))
        except (AttributeError, IndexError):
            pass
    return found


class DistributedTrainer(Callback):
    """Trains with `DistributedDataParallel`; added by `learn.to_distributed()` (see the module doc).

    - `before_fit`: wraps `learn.model` in DDP on the model's device (`ddp_kwargs` go to it, e.g.
      `find_unused_parameters=True`); on ranks other than 0 silences `learn.logger` and the progress bars.
    - `before_train` / `before_validate`: replaces `learn.dl` by this rank's share of it (`shard_loader`;
      the copies of the learner's own loaders are kept, so their shuffles go on from epoch to epoch).
    - `after_pred` (validation): `learn.pred` and `learn.yb` (and `learn.xb` when `gather_inputs`, by
      default when a `get_preds(with_input=True)` is running) become the whole global batch gathered
      from every rank, padding removed; the loss and the metrics are then computed on it, identically
      on every rank.
    - `after_batch` (training): `learn.loss` becomes the mean of the ranks' losses (the global batch's
      loss) for the Recorder and the trackers; predictions and targets are gathered too when the
      Recorder computes training metrics.
    - `after_fit`: unwraps the model and restores logging.
    """

    order = 11

    def __init__(self, gather_inputs: bool | None = None, **ddp_kwargs: Any) -> None:
        self.gather_inputs, self.ddp_kwargs = gather_inputs, ddp_kwargs
        self._shards: dict[int, tuple[Any, tuple, Any]] = {}
        self._saved: dict[str, Any] | None = None
        self._wrapped = False
        self._seen = 0
        self._real: int | None = None
        self._shard: Any = None

    # --- fit ------------------------------------------------------------------------------------
    def before_fit(self) -> None:
        if not _initialized():
            raise RuntimeError(
                "DistributedTrainer: no process group; use `with learn.distrib_ctx():` in a script launched "
                "by torchrun (or call torch.distributed.init_process_group first)"
            )
        self._quiet()
        if self.learn.in_fit:
            self._wrap()

    def after_fit(self) -> None:
        self.restore()

    def _wrap(self) -> None:
        learn = self.learn
        model = _plain_model(learn.model)
        device = _model_device(model)
        ids = [device.index] if device.type == "cuda" else None
        try:
            learn.model = _DDP(
                model, device_ids=ids, output_device=ids[0] if ids else None, **self.ddp_kwargs
            )
        except Exception as e:
            if hasattr(e, "add_note"):
                e.add_note("(DistributedTrainer: wrapping learn.model in DistributedDataParallel)")
            raise
        self._wrapped = True

    def _quiet(self) -> None:
        if rank_distrib() == 0 or self._saved is not None:
            return
        learn = self.learn
        bars = [cb for cb in learn.cbs if isinstance(cb, ProgressCallback)]
        self._saved = {"logger": learn.logger, "bars": [(cb, cb.show_bar) for cb in bars]}
        learn.logger = _noop
        for cb in bars:
            cb.show_bar = False

    def restore(self) -> None:
        """Unwrap the model and give back the logging of this rank (also after a failed fit)."""
        learn = self.learn
        if learn is None:
            return
        if self._wrapped:
            learn.model = _plain_model(learn.model)
            self._wrapped = False
        if self._saved is not None:
            learn.logger = self._saved["logger"]
            for cb, show_bar in self._saved["bars"]:
                cb.show_bar = show_bar
            self._saved = None

    # --- sharding -------------------------------------------------------------------------------
    def before_train(self) -> None:
        self.learn.dl = self._sharded(self.learn.dl)

    def before_validate(self) -> None:
        self.learn.dl = self._sharded(self.learn.dl)

    def _sharded(self, dl: Any) -> Any:
        self._seen, self._real = 0, None
        if dl is None or (isinstance(dl, (tuple, list)) and len(dl) == 0):
            return dl
        rank, world = dist.get_rank(), dist.get_world_size()
        loaders = _loaders_of(self.learn.dls)
        self._shards = {k: v for k, v in self._shards.items() if any(v[0] is o for o in loaders)}
        kept = any(dl is o for o in loaders)
        cached = self._shards.get(id(dl))
        if kept and cached is not None and cached[0] is dl and cached[1] == _settings(dl):
            shard = cached[2]
        else:
            try:
                shard = shard_loader(dl, rank, world)
            except Exception as e:
                if hasattr(e, "add_note"):
                    phase = "training" if self.learn.training else "validation"
                    e.add_note(
                        f"(DistributedTrainer: sharing out the {phase} loader between {world} processes)"
                    )
                raise
            if kept:
                self._shards[id(dl)] = (dl, _settings(dl), shard)
        self._shard = shard
        return shard

    # --- gathering ------------------------------------------------------------------------------
    def _wants_inputs(self) -> bool:
        if self.gather_inputs is not None:
            return self.gather_inputs
        return any(isinstance(cb, GatherPredsCallback) and cb.with_input for cb in self.learn.cbs)

    def _gather_batch(self, with_inputs: bool) -> None:
        learn = self.learn
        parts = (learn.pred, learn.yb, learn.xb if with_inputs else None)
        pred, yb, xb = gather_batch(parts)
        size = _first_len(yb) if _first_len(yb) is not None else _first_len(pred)
        if self._real is None:
            self._real = _real_count(self._shard)
        if size is not None and self._real is not None:
            keep = max(0, min(size, self._real - self._seen))
            self._seen += size
            if keep < size:
                pred, yb = _head(pred, keep), _head(yb, keep)
                xb = _head(xb, keep) if with_inputs else xb
        learn.pred, learn.yb = pred, tuple(yb)
        if with_inputs:
            learn.xb = tuple(xb)

    def after_pred(self) -> None:
        if not self.learn.training:
            self._gather_batch(self._wants_inputs())

    def after_batch(self) -> None:
        learn = self.learn
        if not learn.training or learn.loss is None:
            return
        if isinstance(learn.loss, torch.Tensor):
            learn.loss = _mean_over_ranks(learn.loss)
        recorder = learn.callbacks.get("recorder")
        if recorder is not None and getattr(recorder, "train_metrics", False) and learn.pred is not None:
            self._gather_batch(False)


# ---- Learner methods --------------------------------------------------------------------------
def _warn_cpu_batchnorm(model: nn.Module) -> None:
    if _has_batchnorm(model):
        warnings.warn(
            "to_distributed(sync_bn=True): SyncBatchNorm needs GPUs; on CPUs each process keeps its own "
            "BatchNorm statistics",
            UserWarning,
            stacklevel=3,
        )


@patch
def to_distributed(
    self: Learner, cuda_id: int | None = None, sync_bn: bool = True, **ddp_kwargs: Any
) -> Learner:
    """Train this learner with DistributedDataParallel in a torchrun launch (see
    `lamina.core.callbacks.distributed`): creates the process group when needed, moves the model (and
    the loaders) to GPU `cuda_id` (default `$LOCAL_RANK`) when CUDA is there, converts BatchNorm to
    `SyncBatchNorm` when `sync_bn` (GPUs only) and adds a `DistributedTrainer` (`ddp_kwargs` go to DDP)."""
    setup_distrib(cuda_id)
    if not _initialized():
        raise RuntimeError(
            "Learner.to_distributed: no process group and no torchrun environment ($WORLD_SIZE, $RANK, "
            "$MASTER_ADDR, $MASTER_PORT); launch with `torchrun --nproc_per_node N script.py`, or use "
            "`with learn.distrib_ctx():`, which runs single-process outside a launch"
        )
    self.detach_distributed()
    if _use_cuda() and dist.get_backend() == "nccl":
        device = torch.device("cuda", local_rank_distrib() if cuda_id is None else int(cuda_id))
        self.model.to(device)
        if callable(getattr(self.dls, "to", None)):
            self.dls.to(device)
        if sync_bn:
            self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
    elif sync_bn:
        _warn_cpu_batchnorm(self.model)
    self.add_cb(DistributedTrainer(**ddp_kwargs))
    return self


@patch
def detach_distributed(self: Learner) -> Learner:
    """Remove the `DistributedTrainer` (unwrapping the model, restoring logging); the process group stays."""
    for cb in [c for c in self.cbs if isinstance(c, DistributedTrainer)]:
        cb.restore()
        self.remove_cb(cb)
    return self


@patch_to(Learner)
@contextmanager
def distrib_ctx(
    self: Learner, cuda_id: int | None = None, sync_bn: bool = True, **ddp_kwargs: Any
) -> Iterator[Learner]:
    """`with learn.distrib_ctx(): learn.fit(...)`: distributed training for the block when the script
    was launched by torchrun (process group created here is destroyed at the end); outside a launch,
    the learner as it is (single process)."""
    created = setup_distrib(cuda_id)
    try:
        if _initialized():
            self.to_distributed(cuda_id=cuda_id, sync_bn=sync_bn, **ddp_kwargs)
        yield self
    finally:
        self.detach_distributed()
        if created:
            teardown_distrib()
