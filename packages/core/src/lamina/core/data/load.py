"""`DataLoader`: batches made by fifteen replaceable hooks, driven by torch's public loader."""

from __future__ import annotations

import inspect
import itertools
import random
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import IterableDataset, get_worker_info

from lamina.core.basics.meta import funcs_kwargs
from lamina.core.data.collate import CollateError, collate, convert, map_tensors, restore_types

__all__ = ["DataLoader", "DataLoaderError", "BatchStream", "HOOK_STAGES", "seed_worker"]

HOOK_STAGES: dict[str, str] = {
    "get_idxs": "samples",
    "sample": "samples",
    "shuffle_fn": "samples",
    "create_item": "items",
    "do_item": "items",
    "after_item": "items",
    "retain": "items",
    "before_batch": "batches",
    "create_batch": "batches",
    "do_batch": "batches",
    "after_batch": "batches",
    "create_batches": "batches",
    "before_iter": "lifecycle",
    "after_iter": "lifecycle",
    "wif": "lifecycle",
}
_HOOKS = tuple(HOOK_STAGES)
_SEQUENCES = (list, tuple, range)


class DataLoaderError(RuntimeError):
    """A hook failed. The message names the hook and the item (or batch); in the process where it
    happened the original exception is the `__cause__`. An error in a worker process reaches the
    main process with this message (torch re-raises it there with the worker's traceback)."""


def seed_worker(epoch_seed: int, worker_id: int) -> int:
    """Seed `random`, `numpy.random` and `torch` for one worker in one epoch; returns the seed.

    The seed depends only on (`epoch_seed`, `worker_id`): different per worker and per epoch,
    the same across runs for the same `DataLoader(seed=...)`."""
    seed = random.Random(f"lamina-worker/{epoch_seed}/{worker_id}").getrandbits(63)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return seed


def _as_is(batch: Any) -> Any:
    """torch's `collate_fn`: our hooks made the batch already (no torch-side conversion)."""
    return batch


class _Pinnable:
    """A batch on its way from a worker, pinned by torch's pin-memory thread through the public
    custom-type protocol (`pin_memory()`), which keeps tuples tuples."""

    __slots__ = ("batch",)

    def __init__(self, batch: Any):
        self.batch = batch

    def pin_memory(self, *device: Any) -> _Pinnable:
        return _Pinnable(map_tensors(lambda t: t.pin_memory(*device), self.batch))


class _NoBatch:
    """Sent by a worker in place of a batch whose items were all dropped, so that torch's
    round-robin over the workers stays aligned with the batch numbers; the main process skips it."""

    __slots__ = ()


class BatchStream(IterableDataset):
    """The public `IterableDataset` that torch's DataLoader iterates (with `batch_size=None`): it
    yields whole batches made by `loader`'s hooks; in a worker, the batches assigned to it.

    It holds its loader weakly, so that a loader keeping its persistent torch loader (and that
    one's workers) forms no reference cycle: dropping the loader shuts the workers down at once,
    in the main process. Pickled (spawned workers), it carries the loader itself."""

    def __init__(self, loader: DataLoader):
        self._ref: Callable[[], DataLoader | None] = weakref.ref(loader)

    @property
    def loader(self) -> DataLoader:
        loader = self._ref()
        if loader is None:
            raise RuntimeError("BatchStream: its DataLoader no longer exists")
        return loader

    def __reduce__(self) -> tuple:
        return _stream_holding, (self.loader,)

    def __iter__(self) -> Iterator[Any]:
        batches = self.loader._batches()
        return map(_Pinnable, batches) if self.loader.pin_memory else batches


def _stream_holding(loader: DataLoader) -> BatchStream:
    """A `BatchStream` that holds `loader` strongly (the copy in a spawned worker)."""
    stream = BatchStream(loader)
    stream._ref = lambda: loader
    return stream


def _from_worker(error: DataLoaderError) -> DataLoaderError:
    """`error` as torch re-raised it from a worker ("Caught DataLoaderError in DataLoader worker
    process k. Original Traceback ..."), with our message moved to the front; others unchanged."""
    text = str(error)
    marker = f"{DataLoaderError.__module__}.{DataLoaderError.__name__}: "
    if not text.startswith("Caught DataLoaderError") or marker not in text:
        return error
    head, _, details = text.partition("\n")
    message = text.rsplit(marker, 1)[1].strip()
    where = head.removeprefix("Caught DataLoaderError in ").rstrip(".")
    return DataLoaderError(f"{message}\n(raised in {where}; its traceback follows)\n{details}")


def _to_device(batch: Any, device: torch.device) -> Any:
    non_blocking = device.type != "cpu"  # pays off for pinned memory; never unsafe leaving the CPU
    return map_tensors(lambda t: t.to(device, non_blocking=non_blocking), batch)


def _check_count(name: str, value: Any, minimum: int, allow_none: bool) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        also = " or None" if allow_none else ""
        raise ValueError(f"DataLoader({name}={value!r}): {name} must be an int >= {minimum}{also}")


def _permuted(idxs: Sequence, rng: random.Random) -> list:
    """`idxs` in the order of a permutation drawn from `rng` (vectorised for a `range`)."""
    order = torch.randperm(len(idxs), generator=torch.Generator().manual_seed(rng.getrandbits(63)))
    if isinstance(idxs, range):
        return (order * idxs.step + idxs.start).tolist()
    return [idxs[i] for i in order.tolist()]


def _chunk_stream(samples: Iterator, bs: int, drop_last: bool) -> Iterator[list]:
    while chunk := list(itertools.islice(samples, bs)):
        if drop_last and len(chunk) < bs:
            return
        yield chunk


def _preview(values: list, limit: int = 8) -> str:
    shown = ", ".join(map(repr, values[:limit]))
    return f"[{shown}{', ...' if len(values) > limit else ''}]"


@funcs_kwargs
class DataLoader:
    """Batches from a dataset, made by fifteen hooks that a keyword argument or a subclass replaces.

    A hook given as a keyword (`DataLoader(ds, create_item=f)`) replaces the method and is called
    without `self`; a subclass overrides the method as usual. The hooks (docs/dataloader.md has
    the full table), as `name(args)`: stage; default; where and when it runs:

    - `get_idxs()`: samples; `range(n)`, shuffled by `shuffle_fn` if `shuffle` (`None`s for a
      stream); main process, once per epoch after `before_iter`
    - `shuffle_fn(idxs)`: samples; a permutation drawn from `self.rng` (re-seeded each epoch);
      inside `get_idxs`
    - `sample()`: samples; this worker's share of the epoch's samples, whole batches `k` with
      `k % num_workers == worker_id`; each worker (or the main process), epoch start
    - `create_item(s)`: items; `dataset[s]`, or `next(self.it)` for a stream; per item
    - `after_item(item)`: items; identity; per item, after `create_item`
    - `do_item(s)`: items; `after_item(create_item(s))`, an item that is `None` is dropped; per item
    - `retain(res, items)`: items; gives the batch the tensor subclasses of the items; per batch
    - `before_batch(items)`: batches; identity; per batch, on the list of items
    - `create_batch(items)`: batches; `collate` (with `bs=None`: `convert` the one item); per batch
    - `do_batch(items)`: batches; `retain(create_batch(before_batch(items)), items)`; per batch
    - `create_batches(samples)`: batches; items in chunks of `bs`, each by `do_batch`; each worker
      (or the main process), once per epoch
    - `after_batch(b)`: batches; identity; main process, per batch, after the move to `device`
    - `before_iter()`: lifecycle; nothing; main process, start of each epoch
    - `after_iter()`: lifecycle; nothing; main process, end of each epoch (also after `break`)
    - `wif()`: lifecycle; nothing; each worker, start of each epoch, after its RNGs are seeded

    `after_iter` runs in a `finally` clause of the generator that `iter(dl)` returns: when the
    epoch ends, when an exception leaves the loop, and when the loop breaks (CPython closes the
    generator as soon as the loop drops it; call `close()` on the iterator to be explicit).

    Workers, `pin_memory`, `persistent_workers`, `prefetch_factor` and `timeout` go through to a
    `torch.utils.data.DataLoader` around a `BatchStream`. Batch `k` is made by worker
    `k % num_workers`, so the batches (and, for a given `seed`, the shuffle order) are the same for
    any number of workers.
    """

    _methods = _HOOKS

    def __init__(
        self,
        dataset: Any = None,
        bs: int | None = 64,
        shuffle: bool = False,
        drop_last: bool = False,
        num_workers: int = 0,
        pin_memory: bool = False,
        timeout: float = 0,
        persistent_workers: bool = False,
        prefetch_factor: int | None = None,
        indexed: bool | None = None,
        n: int | None = None,
        device: torch.device | str | None = None,
        seed: int | None = None,
        batch_size: int | None = None,
        **kwargs: Any,
    ):
        if kwargs:
            raise TypeError(
                f"DataLoader got unexpected keyword arguments {sorted(kwargs)}; the hooks are {list(_HOOKS)}"
            )
        if batch_size is not None:
            bs = batch_size
        _check_count("bs", bs, 1, allow_none=True)
        _check_count("n", n, 0, allow_none=True)
        _check_count("num_workers", num_workers, 0, allow_none=False)
        _check_count("prefetch_factor", prefetch_factor, 1, allow_none=True)
        if timeout < 0:
            raise ValueError(f"DataLoader(timeout={timeout!r}): timeout must be >= 0")
        self.dataset, self.bs, self.shuffle, self.drop_last = dataset, bs, shuffle, drop_last
        self.num_workers, self.pin_memory, self.timeout = num_workers, pin_memory, timeout
        self.persistent_workers, self.prefetch_factor, self.seed = persistent_workers, prefetch_factor, seed
        self._indexed_arg, self._n_arg = indexed, n
        if indexed is None:
            indexed = hasattr(dataset, "__getitem__") and not isinstance(dataset, IterableDataset)
        self.indexed = bool(indexed)
        if n is None and dataset is not None and hasattr(dataset, "__len__"):
            n = len(dataset)
        self.n = n
        self.device = None if device is None else torch.device(device)
        if shuffle and not self.indexed:
            raise ValueError(
                "DataLoader(shuffle=True) needs an indexed (map-style) dataset, but this one is iterated "
                "as a stream (indexed=False): shuffle the stream itself, or give a dataset with __getitem__"
            )
        if shuffle and n is None:
            raise ValueError(
                "DataLoader(shuffle=True) needs the number of items: the dataset has no len(); pass n="
            )
        self._seeds = random.Random(seed if seed is not None else random.getrandbits(63))
        self.rng = random.Random(self._seeds.getrandbits(63))
        self._epoch, self._epoch_seed = 0, 0
        self._idxs: Iterable | None = ()
        self._shared_epoch: torch.Tensor | None = None
        self._persistent: tuple[tuple, TorchDataLoader] | None = None
        self.it: Iterator | None = None
        self.worker_id, self.worker_count = 0, 1

    # ---- samples -------------------------------------------------------------------------
    def get_idxs(self) -> Iterable:
        """The samples of one epoch: a list of indices (`shuffle_fn(range(n))` when shuffling), or
        `None`s (one per item) for a stream."""
        return self.shuffle_fn(range(self.n)) if self.shuffle else self._ordered_idxs()

    def sample(self) -> Iterable:
        """The samples this worker turns into batches: whole batches `k` with `k % workers == id`."""
        return self._worker_share(self._idxs)

    def shuffle_fn(self, idxs: Sequence) -> list:
        """`idxs` (a sequence: `range(n)` by default) in a random order drawn from `self.rng`
        (re-seeded every epoch)."""
        return _permuted(idxs, self.rng)

    # ---- items ---------------------------------------------------------------------------
    def create_item(self, s: Any) -> Any:
        """The item for sample `s`: `dataset[s]`, or the next item of the stream."""
        return self.dataset[s] if self.indexed else next(self.it)

    def do_item(self, s: Any) -> Any:
        """`after_item(create_item(s))`; an item that comes out as `None` is dropped."""
        return self.after_item(self.create_item(s))

    def after_item(self, item: Any) -> Any:
        """Transform one item (identity by default)."""
        return item

    def retain(self, res: Any, items: Any) -> Any:
        """Give the collated `res` the tensor types of the items it was made from."""
        return restore_types(res, items[0] if self.bs is not None else items)

    # ---- batches -------------------------------------------------------------------------
    def before_batch(self, items: list) -> list:
        """Transform the list of items of one batch before collation (identity by default)."""
        return items

    def create_batch(self, items: Any) -> Any:
        """Collate a list of items (or, with `bs=None`, convert one item)."""
        return collate(items) if self.bs is not None else convert(items)

    def do_batch(self, items: Any) -> Any:
        """`retain(create_batch(before_batch(items)), items)`."""
        return self.retain(self.create_batch(self.before_batch(items)), items)

    def after_batch(self, b: Any) -> Any:
        """Transform one batch in the main process, on `device` (identity by default)."""
        return b

    def create_batches(self, samples: Iterable) -> Iterator[Any]:
        """Turn this worker's samples into batches: items in chunks of `bs`, each by `do_batch`."""
        return self._make_batches(samples)

    # ---- lifecycle -----------------------------------------------------------------------
    def before_iter(self) -> None:
        """Called in the main process at the start of each epoch."""

    def after_iter(self) -> None:
        """Called in the main process at the end of each epoch (also after `break`)."""

    def wif(self) -> None:
        """Worker init: called in each worker at the start of each epoch, after seeding."""

    # ---- public API ----------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        return self._iterate(self.num_workers)

    def __len__(self) -> int:
        if self.n is None:
            raise TypeError("DataLoader has no length: its dataset has no len() and n was not given")
        if self.bs is None:
            return self.n
        return self.n // self.bs if self.drop_last else -(-self.n // self.bs)

    @property
    def batch_size(self) -> int | None:
        """Alias of `bs`."""
        return self.bs

    @batch_size.setter
    def batch_size(self, value: int | None) -> None:
        _check_count("batch_size", value, 1, allow_none=True)
        self.bs = value

    def one_batch(self) -> Any:
        """The first batch of a new epoch, made in the main process (no workers)."""
        batches = self._iterate(0)
        try:
            return next(batches)
        finally:
            batches.close()

    def to(self, device: torch.device | str | None) -> DataLoader:
        """Move batches to `device` from now on; returns `self`."""
        self.device = None if device is None else torch.device(device)
        return self

    def new(self, dataset: Any = None, **kwargs: Any) -> DataLoader:
        """A copy of this loader (same class, settings and keyword-replaced hooks) with the changes
        given as keywords; `n` and `indexed` are found again for a new `dataset`. A subclass whose
        `__init__` takes other arguments than the ones it stores as attributes overrides `new`."""
        if "batch_size" in kwargs:
            kwargs["bs"] = kwargs.pop("batch_size")
        same = dataset is None
        settings = {name: getattr(self, name) for name in self._init_names() if hasattr(self, name)}
        settings.update(dataset=self.dataset if same else dataset, n=self._n_arg if same else None)
        settings.update(indexed=self._indexed_arg, seed=self.seed)
        settings.update({name: self.__dict__[name] for name in _HOOKS if name in self.__dict__})
        settings.update(kwargs)
        return type(self)(**settings)

    def __repr__(self) -> str:
        kind = type(self.dataset).__name__
        size = f"[{self.n}]" if self.n is not None else ""
        replaced = [h for h in _HOOKS if self._replaced(h)]
        hooks = f", hooks={replaced}" if replaced else ""
        return (
            f"{type(self).__name__}(dataset={kind}{size}, bs={self.bs}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, num_workers={self.num_workers}, device={self.device}{hooks})"
        )

    def __getstate__(self) -> dict:
        """For spawned workers: no torch loader, no open stream; samples that are an iterator
        (a stream's) are made again in the worker."""
        state = self.__dict__.copy()
        state.update(_persistent=None, it=None)
        if not isinstance(self._idxs, _SEQUENCES):
            state["_idxs"] = None
        return state

    # ---- machinery -----------------------------------------------------------------------
    def _init_names(self) -> list[str]:
        names: list[str] = []
        for cls in type(self).__mro__:
            if "__init__" not in cls.__dict__:
                continue
            params = inspect.signature(cls.__dict__["__init__"]).parameters.values()
            plain = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
            names += [p.name for p in params if p.kind not in plain and p.name != "self"]
            if cls is DataLoader or not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
                break
        skip = {"batch_size", "n", "indexed", "dataset", "seed", *_HOOKS}
        return [name for name in dict.fromkeys(names) if name not in skip]

    def _replaced(self, name: str) -> bool:
        return name in self.__dict__ or getattr(type(self), name) is not getattr(DataLoader, name)

    def _run(self, name: str, *args: Any) -> Any:
        try:
            return getattr(self, name)(*args)
        except DataLoaderError:
            raise
        except Exception as e:
            raise DataLoaderError(f"DataLoader: hook `{name}` failed: {type(e).__name__}: {e}") from e

    def _ordered_idxs(self) -> Iterable:
        if not self.indexed:
            return itertools.repeat(None) if self.n is None else itertools.repeat(None, self.n)
        return itertools.count() if self.n is None else list(range(self.n))

    def _worker_share(self, samples: Iterable) -> Iterable:
        count, wid, bs = self.worker_count, self.worker_id, self.bs or 1
        if count == 1:
            return samples
        if isinstance(samples, _SEQUENCES):
            starts = range(wid * bs, len(samples), count * bs)
            return [s for start in starts for s in samples[start : start + bs]]
        return (s for i, s in enumerate(samples) if (i // bs) % count == wid)

    def _worker_stream(self) -> Iterator:
        """The dataset's stream as this worker sees it: the items of its own batches (every worker
        reads the whole stream and keeps its share, so batches match those of 0 workers)."""
        stream = iter(self.dataset)
        count, wid, bs = self.worker_count, self.worker_id, self.bs or 1
        if count == 1:
            return stream
        return (x for i, x in enumerate(stream) if (i // bs) % count == wid)

    def _check_ready(self) -> None:
        if self.n == 0:
            raise ValueError(f"DataLoader: the dataset is empty (0 items), nothing to iterate: {self!r}")
        if self.bs is not None and self.drop_last and self.n is not None and self.n < self.bs:
            raise ValueError(
                f"DataLoader: drop_last=True with {self.n} items and bs={self.bs} gives no batches; "
                "lower bs or set drop_last=False"
            )
        if self.dataset is None and not (self._replaced("create_item") or self._replaced("do_item")):
            if not self._replaced("create_batches"):
                raise ValueError("DataLoader has no dataset: give one, or replace `create_item`")

    def _start_epoch(self) -> None:
        self._epoch += 1
        self._epoch_seed = self._seeds.getrandbits(63)
        self.rng = random.Random(self._epoch_seed)

    def _publish_epoch(self) -> None:
        if self._shared_epoch is not None:
            self._shared_epoch.copy_(torch.tensor([self._epoch, self._epoch_seed]))

    def _catch_up_epoch(self) -> None:
        """In a persistent worker (a copy made at an earlier epoch): take the epoch number and seed
        that the main process published; the samples are then made again from that seed."""
        if self._shared_epoch is None:
            return
        epoch, epoch_seed = self._shared_epoch.tolist()
        if epoch != self._epoch:
            self._epoch, self._epoch_seed, self._idxs = epoch, epoch_seed, None

    def _remake_idxs(self) -> None:
        """Make the epoch's samples again, from the epoch's seed, as the main process made them."""
        self.rng = random.Random(self._epoch_seed)
        self._idxs = self._run("get_idxs")

    def _torch_loader(self, workers: int) -> TorchDataLoader:
        persistent = bool(self.persistent_workers) and workers > 0
        key = (workers, self.pin_memory, self.timeout, self.prefetch_factor)
        if persistent and self._persistent is not None and self._persistent[0] == key:
            return self._persistent[1]
        extra: dict[str, Any] = {}
        if workers > 0:
            extra = dict(timeout=self.timeout, prefetch_factor=self.prefetch_factor)
            extra.update(persistent_workers=persistent)
        if persistent and self._shared_epoch is None:
            self._shared_epoch = torch.zeros(2, dtype=torch.int64).share_memory_()
        loader = TorchDataLoader(
            BatchStream(self),
            batch_size=None,
            collate_fn=_as_is,
            num_workers=workers,
            pin_memory=self.pin_memory,
            generator=torch.Generator().manual_seed(self._epoch_seed),
            **extra,
        )
        if persistent:
            self._persistent = (key, loader)
        return loader

    def _iterate(self, workers: int) -> Iterator[Any]:
        self._check_ready()
        self._start_epoch()
        self._run("before_iter")
        count, batches = 0, None
        try:
            self._idxs = self._run("get_idxs")
            if workers == 0 and not self.pin_memory:
                batches = self._batches()
            else:
                loader = self._torch_loader(workers)
                self._publish_epoch()  # before iter(): persistent workers resume at once
                batches = iter(loader)
            after = self.after_batch if self._replaced("after_batch") else None
            try:
                for b in batches:
                    if type(b) is _Pinnable:
                        b = b.batch
                    if type(b) is _NoBatch:
                        continue
                    if self.device is not None:
                        b = _to_device(b, self.device)
                    if after is not None:
                        b = self._after_batch(after, b, count)
                    count += 1
                    yield b
            except DataLoaderError as e:
                raise _from_worker(e) from e.__cause__
            if count == 0:
                raise ValueError(self._why_no_batches())
        finally:
            batches = None  # releases torch's iterator: non-persistent workers shut down here
            self.it = None
            self._run("after_iter")

    def _why_no_batches(self) -> str:
        if self.indexed:
            return "DataLoader: the epoch produced no batches (every item was dropped as None)"
        return (
            "DataLoader: the iterable dataset yielded no items. An iterator or generator can be consumed "
            "only once: pass an object whose __iter__ starts a new stream (e.g. an IterableDataset)"
        )

    def _after_batch(self, after: Callable, b: Any, count: int) -> Any:
        try:
            return after(b)
        except Exception as e:
            message = f"DataLoader: hook `after_batch` failed on batch {count}: {type(e).__name__}: {e}"
            raise DataLoaderError(message) from e

    def _batches(self) -> Iterator[Any]:
        """Run in each worker (or in the main process): this worker's batches of the epoch."""
        info = get_worker_info()
        if info is not None and isinstance(info.dataset, BatchStream) and info.dataset.loader is self:
            self.worker_id, self.worker_count = info.id, info.num_workers
            self._catch_up_epoch()
            if self._idxs is None:
                self._remake_idxs()
            seed_worker(self._epoch_seed, info.id)
            self._run("wif")
        else:
            self.worker_id, self.worker_count = 0, 1
        batches = self._run("create_batches", self._run("sample"))
        try:
            yield from batches
        except DataLoaderError:
            raise
        except Exception as e:
            raise DataLoaderError(f"DataLoader: hook `create_batches` failed: {type(e).__name__}: {e}") from e

    def _make_batches(self, samples: Iterable) -> Iterator[Any]:
        if not self.indexed and self.dataset is not None:
            self.it = self._worker_stream()
        make_items, make_batch = self._item_maker(), self._batch_maker()
        bs, drop_last = self.bs, self.drop_last
        if isinstance(samples, _SEQUENCES):
            size = bs or 1
            stop = len(samples) - len(samples) % size if drop_last and bs else len(samples)
            chunks: Iterable = (samples[i : i + size] for i in range(0, stop, size))
        else:
            chunks = _chunk_stream(iter(samples), bs or 1, bool(drop_last and bs))
        for k, chunk in enumerate(chunks):
            number = self.worker_id + k * self.worker_count
            items, kept, ended = make_items(chunk, number)
            if ended and drop_last and bs and len(items) < bs:
                return
            if items:
                yield make_batch(items if bs is not None else items[0], kept, number)
            elif self.worker_count > 1 and not ended:
                yield _NoBatch()
            if ended:
                return

    def _item_maker(self) -> Callable[[Sequence, int], tuple[list, Sequence, bool]]:
        """A function `(chunk of samples, batch number) -> (items, their samples, stream ended)` that
        runs the item hooks, drops `None` items, and names the failing hook and item in its errors."""
        if self._replaced("do_item"):
            create, first, after = self.do_item, "do_item", None
        else:
            create, first = self.create_item, "create_item"
            after = self.after_item if self._replaced("after_item") else None
            if self.indexed and not self._replaced("create_item") and self.dataset is not None:
                create = self.dataset.__getitem__

        def make_items(chunk: Sequence, number: int) -> tuple[list, Sequence, bool]:
            rest, stage = iter(chunk), first
            try:
                if after is None:
                    items = list(map(create, rest))  # a StopIteration ends the map: the stream's end
                else:
                    items = []
                    for s in rest:
                        item = create(s)
                        stage = "after_item"
                        items.append(after(item))
                        stage = first
            except StopIteration:  # from the explicit loop
                pass
            except Exception as e:
                position = len(chunk) - sum(1 for _ in rest) - 1
                raise self._item_error(stage, chunk[position], number, position, e) from e
            ended = len(items) < len(chunk)
            if any(item is None for item in items):
                chunk = [s for s, item in zip(chunk, items) if item is not None]
                items = [item for item in items if item is not None]
            return items, chunk, ended

        return make_items

    def _item_error(self, stage: str, s: Any, number: int, position: int, e: Exception) -> DataLoaderError:
        if self.indexed:
            where = f"item {s!r} (batch {number})"
        else:
            where = f"stream item #{number * (self.bs or 1) + position} (batch {number})"
        return DataLoaderError(f"DataLoader: hook `{stage}` failed on {where}: {type(e).__name__}: {e}")

    def _batch_maker(self) -> Callable[[Any, Any, int], Any]:
        """A function `(items, samples, batch number) -> batch` that runs the batch hooks and names
        the failing hook, the batch and its items in its errors."""
        if self._replaced("do_batch"):
            steps: list[tuple[str, Callable]] = [("do_batch", self.do_batch)]
        else:
            steps = [("before_batch", self.before_batch)] if self._replaced("before_batch") else []
            steps.append(("create_batch", self.create_batch))
        retain = None if self._replaced("do_batch") else self.retain

        def make_batch(items: Any, samples: Any, number: int) -> Any:
            stage = steps[0][0]
            try:
                b = items
                for name, step in steps:
                    stage = name
                    b = step(b)
                if retain is not None:
                    stage = "retain"
                    b = retain(b, items)
                return b
            except Exception as e:
                raise self._batch_error(stage, list(samples), number, e) from e

        return make_batch

    def _batch_error(self, stage: str, samples: list, number: int, e: Exception) -> DataLoaderError:
        bs = self.bs or 1
        names = samples if self.indexed else [f"#{number * bs + i}" for i in range(len(samples))]
        detail = f"{type(e).__name__}: {e}"
        if isinstance(e, CollateError) and e.groups:
            found = [(kind, [names[i] for i in pos if i < len(names)]) for kind, pos in e.groups.items()]
            kinds = "; ".join(f"{kind} at items {_preview(items)}" for kind, items in found)
            where = f" at item{e.path}" if e.path else ""
            detail = f"{e.summary}{where}: {kinds}"
            if "ragged" in detail:
                detail += ". Make the items one size (e.g. in `after_item` or `before_batch`), or use bs=None"
        return DataLoaderError(
            f"DataLoader: hook `{stage}` failed on batch {number} (items {_preview(names)}): {detail}"
        )
