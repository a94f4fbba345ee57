"""Checkpoints: `learn.save`/`learn.load` of model and optimizer state, and an exact resume of a fit.

A checkpoint written during a fit (from a callback, e.g. `CheckpointCallback` at each epoch end) also holds
the training state: the position (epochs done, training batches done, the fit's length), the Recorder's
history (losses, values, learning rates, the smoothed-loss average), the state of callbacks that have
`state_dict`/`load_state_dict`, the frozen parameter groups, the random states (Python `random`, numpy,
torch CPU and CUDA) and each data loader's shuffling state (a Lamina loader's seed stream and epoch; a torch
loader's generators). The schedules of `ParamScheduler` are functions of `pct_train`, which the loop derives
from the epoch, so the position fixes them.

Resuming, in a new process or a new `Learner` built the same way:

    learn.load("checkpoint")                                # model, optimizer, and the training state
    learn.fit_one_cycle(4, 1e-2, start_epoch=learn.resume.start_epoch)
    # or: learn.fit(4, resume="checkpoint")

`load` attaches a `ResumeCallback` (`learn.resume`) that, when the next fit reaches its first epoch at the
checkpoint's position, puts the training state back; the rest of the fit then runs exactly as the
uninterrupted one would have (same batches, same random draws, same weights). A checkpoint written in the
middle of an epoch resumes at that epoch's start, which repeats its first batches (a warning says so).

Files hold tensors and plain Python data only (`torch.save`), are read with `torch.load(weights_only=True)`
and written atomically (a temporary file in the same folder, then a rename).
"""

from __future__ import annotations

import os
import random
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader as TorchDataLoader

from lamina.core.data.load import DataLoader
from lamina.core.learner.callback import Callback
from lamina.core.learner.ranks import distrib_barrier, rank_distrib
from lamina.core.learner.recorder import Recorder

if TYPE_CHECKING:
    from lamina.core.learner.learner import Learner

__all__ = [
    "CHECKPOINT_VERSION",
    "atomic_save",
    "save_checkpoint",
    "load_checkpoint",
    "training_state",
    "resume_epoch",
    "ResumeCallback",
    "CheckpointCallback",
    "CheckpointMixin",
]

CHECKPOINT_VERSION = 1


@contextmanager
def _temporary_beside(target: Path) -> Iterator[Path]:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def atomic_save(obj: Any, target: str | Path) -> Path:
    """`torch.save(obj)` to `target` atomically: written to a temporary file in the same folder, flushed to
    disk, then renamed over `target`, so a crash leaves the old file or the new one, never half of one."""
    target = Path(target)
    with _temporary_beside(target) as tmp:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    return target


# ---- random states ---------------------------------------------------------------------------------------
def _rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos)},
        "numpy_gauss": (int(has_gauss), float(gauss)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    np_state, (has_gauss, gauss) = state["numpy"], state["numpy_gauss"]
    keys = np_state["keys"].numpy().astype(np.uint32)
    np.random.set_state((np_state["kind"], keys, np_state["pos"], has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        if len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])
        else:
            warnings.warn(
                f"resume: the checkpoint has the CUDA random states of {len(state['cuda'])} devices, this "
                f"machine has {torch.cuda.device_count()}; CUDA random draws will differ",
                stacklevel=3,
            )


# ---- data loaders ----------------------------------------------------------------------------------------
def _loader_state(dl: Any) -> dict[str, Any]:
    """The shuffling state of one loader: a Lamina `DataLoader`'s seed stream, epoch and current generator;
    a torch `DataLoader`'s generators (its sampler draws from the global torch state without one)."""
    if isinstance(dl, DataLoader):
        return {
            "kind": "lamina",
            "seeds": dl._seeds.getstate(),
            "rng": dl.rng.getstate(),
            "epoch": dl._epoch,
            "epoch_seed": dl._epoch_seed,
        }
    if isinstance(dl, TorchDataLoader):
        state: dict[str, Any] = {"kind": "torch"}
        if dl.generator is not None:
            state["generator"] = dl.generator.get_state()
        sampler_gen = getattr(dl.sampler, "generator", None)
        if sampler_gen is not None and sampler_gen is not dl.generator:
            state["sampler_generator"] = sampler_gen.get_state()
        return state
    return {"kind": "other", "type": type(dl).__name__}


def _as_random_state(saved: Any) -> tuple:
    version, internal, gauss_next = saved
    return version, tuple(internal), gauss_next


def _set_loader_state(dl: Any, state: dict[str, Any], index: int) -> None:
    kind = state.get("kind")
    if kind == "lamina" and isinstance(dl, DataLoader):
        dl._seeds.setstate(_as_random_state(state["seeds"]))
        dl.rng.setstate(_as_random_state(state["rng"]))
        dl._epoch, dl._epoch_seed = state["epoch"], state["epoch_seed"]
    elif kind == "torch" and isinstance(dl, TorchDataLoader):
        if "generator" in state and dl.generator is not None:
            dl.generator.set_state(state["generator"])
        sampler_gen = getattr(dl.sampler, "generator", None)
        if "sampler_generator" in state and sampler_gen is not None:
            sampler_gen.set_state(state["sampler_generator"])
    elif kind != "other":
        warnings.warn(
            f"resume: data loader {index} is a {type(dl).__name__} but the checkpoint saved a {kind} loader; "
            "its shuffling will differ from the interrupted fit",
            stacklevel=3,
        )


# ---- the Recorder and other callbacks --------------------------------------------------------------------
def _plain_data(x: Any) -> Any:
    """`x` with numpy scalars and arrays (refused by `weights_only` loading) as Python numbers and tensors."""
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x.copy())
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    if isinstance(x, (list, tuple)):
        return type(x)(_plain_data(o) for o in x)
    if isinstance(x, dict):
        return {k: _plain_data(v) for k, v in x.items()}
    return x


def _recorder_state(rec: Recorder) -> dict[str, Any]:
    smooth = rec._smooth._value
    return _plain_data(
        {
            "lrs": list(rec.lrs),
            "hps": {k: list(v) for k, v in rec.hps.items()},
            "iters": list(rec.iters),
            "values": [list(row) for row in rec.values],
            "metric_names": list(rec.metric_names),
            "losses": list(rec.losses),
            "smooth_count": rec._smooth.count,
            "smooth_value": None if smooth is None else smooth.detach().cpu(),
            "last_valid": rec.last_valid,
        }
    )


def _set_recorder_state(rec: Recorder, state: dict[str, Any], device: torch.device) -> None:
    rec.lrs, rec.hps, rec.iters = list(state["lrs"]), dict(state["hps"]), list(state["iters"])
    rec.values, rec.metric_names = [list(r) for r in state["values"]], list(state["metric_names"])
    rec._losses, rec._pending = list(state["losses"]), []
    rec._smooth.count = state["smooth_count"]
    value = state["smooth_value"]
    rec._smooth._value = None if value is None else value.to(device)
    rec.last_valid = state["last_valid"]


def _has_state_protocol(cb: Callback) -> bool:
    return callable(getattr(type(cb), "state_dict", None)) and callable(
        getattr(type(cb), "load_state_dict", None)
    )


# ---- the training state as a whole -----------------------------------------------------------------------
def _n_batches(dl: Any) -> int | None:
    try:
        return len(dl)
    except (TypeError, IndexError, AttributeError):
        return None


def _train_loader(learn: Learner) -> Any:
    try:
        return learn.dls.train
    except (IndexError, AttributeError):
        return None


def training_state(learn: Learner) -> dict[str, Any]:
    """Everything besides model and optimizer that an exact resume of `learn`'s current fit needs."""
    recorder = learn.callbacks.get("recorder")
    n_batches = _n_batches(_train_loader(learn))
    if isinstance(recorder, Recorder):
        epochs_done = len(recorder.values)
    else:
        complete = n_batches is not None and learn.train_iter >= (learn.epoch + 1) * n_batches
        epochs_done = learn.epoch + 1 if complete else learn.epoch
    into_epoch = learn.train_iter - epochs_done * n_batches if n_batches else 0
    loaders = list(learn.dls) if hasattr(learn.dls, "__iter__") else []
    return {
        "version": CHECKPOINT_VERSION,
        "epochs_done": epochs_done,
        "batches_into_epoch": max(into_epoch, 0),
        "n_epoch": learn.n_epoch,
        "train_iter": learn.train_iter,
        "n_train_batches": n_batches,
        "frozen_idx": getattr(learn.opt, "frozen_idx", 0),
        "recorder": _recorder_state(recorder) if isinstance(recorder, Recorder) else None,
        "callbacks": {cb.name: _plain_data(cb.state_dict()) for cb in learn.cbs if _has_state_protocol(cb)},
        "rng": _rng_state(),
        "loaders": [_loader_state(dl) for dl in loaders],
    }


def _restore_training_state(learn: Learner, state: dict[str, Any]) -> None:
    learn.train_iter = state["train_iter"]
    recorder = learn.callbacks.get("recorder")
    if state["recorder"] is not None and isinstance(recorder, Recorder):
        _set_recorder_state(recorder, state["recorder"], _model_device(learn.model))
    for name, cb_state in state["callbacks"].items():
        cb = learn.callbacks.get(name)
        if cb is not None and _has_state_protocol(cb):
            cb.load_state_dict(cb_state)
    loaders = list(learn.dls) if hasattr(learn.dls, "__iter__") else []
    if len(loaders) != len(state["loaders"]):
        warnings.warn(
            f"resume: the checkpoint saved {len(state['loaders'])} data loaders, the learner has "
            f"{len(loaders)}",
            stacklevel=3,
        )
    for i, (dl, dl_state) in enumerate(zip(loaders, state["loaders"])):
        _set_loader_state(dl, dl_state, i)
    _set_rng_state(state["rng"])


class ResumeCallback(Callback):
    """Puts a checkpoint's training state back when the next fit starts its first epoch at the checkpoint's
    position (`start_epoch`), then detaches itself. Attached by `learn.load` as `learn.resume`.

    A fit that starts at epoch 0 is a new fit from the loaded weights: the training state is dropped (with
    a warning). Any other start epoch than the checkpoint's raises a `ValueError` naming both.
    """

    order = 1000  # after every other callback's before_fit/before_epoch, so nothing resets what it restores

    def __init__(self, state: dict[str, Any], source: str = "the checkpoint"):
        self.state, self.source = state, source

    @property
    def start_epoch(self) -> int:
        """The epoch the interrupted fit goes on from."""
        return self.state["epochs_done"]

    def before_epoch(self) -> None:
        learn = self.learn
        try:
            if self._applies(learn.epoch):
                for warning in self._differences(learn):
                    warnings.warn(f"resume: {warning}", stacklevel=2)
                _restore_training_state(learn, self.state)
        finally:
            learn.remove_cb(self)

    def _applies(self, epoch: int) -> bool:
        start = self.start_epoch
        if epoch == 0 and start > 0:
            warnings.warn(
                f"{self.source} holds a fit stopped after {start} epoch(s), but this fit starts at epoch 0: "
                f"it trains from the loaded weights anew (pass start_epoch={start} to resume that fit)",
                stacklevel=3,
            )
            return False
        if epoch != start:
            raise ValueError(
                f"resume: {self.source} continues at epoch {start}, but this fit starts at epoch {epoch}; "
                f"pass start_epoch={start}"
            )
        return True

    def _differences(self, learn: Learner) -> list[str]:
        state, found = self.state, []
        if learn.n_epoch != state["n_epoch"]:
            found.append(
                f"{self.source} was written during a fit of {state['n_epoch']} epochs, this fit has "
                f"{learn.n_epoch}; the schedules (functions of the fraction of training done) differ"
            )
        n_batches = _n_batches(_train_loader(learn))
        if state["n_train_batches"] is not None and n_batches != state["n_train_batches"]:
            found.append(
                f"the training loader has {n_batches} batches per epoch, the checkpoint's had "
                f"{state['n_train_batches']}"
            )
        if state["batches_into_epoch"]:
            found.append(
                f"{self.source} was written {state['batches_into_epoch']} batch(es) into epoch "
                f"{self.start_epoch}; the fit resumes at the start of that epoch, so those batches run "
                "again and the result will not match an uninterrupted fit exactly"
            )
        return found


def _model_device(model: torch.nn.Module) -> torch.device:
    first = next(iter([*model.parameters(), *model.buffers()]), None)
    return first.device if first is not None else torch.device("cpu")


def save_checkpoint(learn: Learner, target: str | Path, with_opt: bool = True) -> Path:
    """Write `learn`'s model (and optimizer) state to `target`, atomically; called during a fit with
    `with_opt`, the training state too (a resume without the optimizer state could not be exact)."""
    state: dict[str, Any] = {"model": learn.model.state_dict()}
    if with_opt and learn.opt is not None:
        state["opt"] = learn.opt.state_dict()
        if learn.in_fit:
            state["training"] = training_state(learn)
    return atomic_save(state, target)


def load_checkpoint(
    learn: Learner,
    source: str | Path,
    device: torch.device | str | None = None,
    with_opt: bool = True,
    strict: bool = True,
) -> Learner:
    """Load a file written by `save_checkpoint` into `learn` (see the module docstring); returns `learn`."""
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"Learner.load: no saved state at {source}")
    device = _model_device(learn.model) if device is None else torch.device(device)
    try:
        state = torch.load(source, map_location=device, weights_only=True)
    except Exception as e:
        raise ValueError(
            f"Learner.load: {source} is not a checkpoint of tensors and plain data (it was refused without "
            f"running anything): {str(e).splitlines()[0]}"
        ) from e
    if not isinstance(state, dict) or "model" not in state:
        raise ValueError(f"Learner.load: {source} is not a file written by Learner.save (no 'model' entry)")
    training = state.get("training")
    if training is not None and training.get("version", 0) > CHECKPOINT_VERSION:
        raise ValueError(
            f"Learner.load: {source} holds training state of checkpoint version {training['version']}; "
            f"this Lamina reads up to version {CHECKPOINT_VERSION}: upgrade lamina-core to resume from it"
        )
    learn.model.load_state_dict(state["model"], strict=strict)
    if not with_opt:
        return learn
    if "opt" not in state:
        warnings.warn(
            f"Learner.load: {source} holds no optimizer state; only the model was loaded", stacklevel=3
        )
        return learn
    if learn.opt is None:
        learn.create_opt()
    if training is not None and training.get("frozen_idx", 0) != learn.opt.frozen_idx:
        learn.opt.freeze_to(training["frozen_idx"])
    learn.opt.load_state_dict(state["opt"])
    learn.remove_cb(ResumeCallback)
    if training is not None:
        learn.add_cb(ResumeCallback(training, source=str(source)))
    return learn


def resume_epoch(learn: Learner, source: str | Path) -> int:
    """Load checkpoint `source` into `learn` and return the epoch its fit goes on from (`fit(resume=...)`)."""
    load_checkpoint(learn, source)
    resume = learn.callbacks.get("resume")
    if not isinstance(resume, ResumeCallback):
        raise ValueError(
            f"resume: {source} holds no training state (it was not written during a fit); load it with "
            "learn.load() to start a new fit from its weights"
        )
    return resume.start_epoch


class CheckpointCallback(Callback):
    """Saves a checkpoint (`learn.save(fname)`, with the training state) at the end of every `every`-th epoch
    and at the end of the last one; `by_epoch=True` keeps one file per epoch (`fname_<epoch>`)."""

    order = 65  # after the Recorder (50) has written the epoch's row and the progress table (60)

    def __init__(
        self, fname: str = "checkpoint", every: int = 1, by_epoch: bool = False, with_opt: bool = True
    ):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"CheckpointCallback: every must be a positive int, got {every!r}")
        self.fname, self.every, self.by_epoch, self.with_opt = fname, every, by_epoch, with_opt
        self.saved: list[Path] = []

    def before_fit(self) -> None:
        self.saved = []

    def after_epoch(self) -> None:
        learn = self.learn
        if (learn.epoch + 1) % self.every and learn.epoch + 1 != learn.n_epoch:
            return
        name = f"{self.fname}_{learn.epoch}" if self.by_epoch else self.fname
        self.saved.append(learn.save(name, with_opt=self.with_opt))


class CheckpointMixin:
    """`Learner.save`/`Learner.load` (files in `path/model_dir`, `.pth` added)."""

    def _model_file(self: Learner, file: str | Path) -> Path:
        path = self.path / self.model_dir / file
        return path if path.suffix == ".pth" else path.with_name(path.name + ".pth")

    def save(self: Learner, file: str | Path, with_opt: bool = True) -> Path:
        """Save the model's (and the optimizer's) state to `path/model_dir/<file>.pth`, with the training
        state when called during a fit (see `lamina.core.learner.checkpoint`); returns the path. In a
        distributed run only rank 0 writes; the other ranks return the path it writes to."""
        if rank_distrib() != 0:
            return self._model_file(file)
        return save_checkpoint(self, self._model_file(file), with_opt=with_opt)

    def load(
        self: Learner,
        file: str | Path,
        device: torch.device | str | None = None,
        with_opt: bool = True,
        strict: bool = True,
    ) -> Learner:
        """Load a state saved by `save` (read with `torch.load(weights_only=True)`). A checkpoint written
        during a fit also arms `learn.resume`, which resumes that fit exactly when the next fit passes
        `start_epoch=learn.resume.start_epoch`. In a distributed run every rank first waits for the others,
        so rank 0 has finished writing."""
        distrib_barrier()
        return load_checkpoint(self, self._model_file(file), device=device, with_opt=with_opt, strict=strict)
