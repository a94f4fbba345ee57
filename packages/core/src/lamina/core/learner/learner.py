"""`Learner`: data, model, loss and optimizer, trained by a loop whose every step fires callback events.

The batch step (paper section 4.2) is: split the batch into `xb`/`yb`, `before_batch`, forward
(`pred`), `after_pred`, loss, `after_loss`, `before_backward`, backward, `after_backward`,
`before_step`, step, `after_step`, zero_grad, then `after_batch`. Callbacks read this state as
`self.xb`, `self.pred`, `self.loss`, ... and change it by assigning `self.learn.<name>`; the loop
goes on with what they wrote (e.g. the backward pass uses `learn.loss` as left by `after_loss`).
Phases are cancelled by the `Cancel*Exception`s of `lamina.core.learner.callback`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lamina.core.learner.callback import (
    Callback,
    CancelBackwardException,
    CancelBatchException,
    CancelEpochException,
    CancelException,
    CancelFitException,
    CancelStepException,
    CancelTrainException,
    CancelValidException,
    TrainEvalCallback,
)
from lamina.core.learner.checkpoint import CheckpointMixin, resume_epoch
from lamina.core.learner.events import EVENTS, INNER_LOOP_EVENTS, canonical_event
from lamina.core.learner.export import ExportMixin
from lamina.core.learner.inference import InferenceMixin
from lamina.core.learner.lr_finder import LRFinderMixin
from lamina.core.learner.ordering import sort_callbacks
from lamina.core.learner.params import norm_bias_params, trainable_params
from lamina.core.learner.preds import (
    GatherPredsCallback,
    in_dataset_order,
    loader_order,
    loss_not_reduced,
    to_dataset_order,
    with_fixed_order,
)
from lamina.core.learner.progress import ProgressCallback
from lamina.core.learner.recorder import Recorder
from lamina.core.learner.scheduler import FitPoliciesMixin
from lamina.core.learner.summary import SummaryMixin
from lamina.core.metrics import Metric, mk_metric
from lamina.core.optim.optimizers import Adam
from lamina.core.tensors import as_plain

__all__ = ["Learner"]

# The loop state callbacks read; all exist from construction so that reads never fail.
_LOOP_STATE: tuple[str, ...] = (
    "dl",
    "xb",
    "yb",
    "pred",
    "loss",
    "smooth_loss",
    "epoch",
    "iter",
    "n_iter",
    "training",
    "train_iter",
    "pct_train",
)


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


def _listify(x: Any) -> list[Any]:
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def _add_note(e: BaseException, note: str) -> None:
    if hasattr(e, "add_note"):
        e.add_note(note)


def _describe(x: Any) -> str:
    """Short description of a batch part for error notes: shapes, dtypes and devices."""
    if isinstance(x, torch.Tensor):
        return f"tensor{tuple(x.shape)} {str(x.dtype).replace('torch.', '')} on {x.device}"
    if isinstance(x, (tuple, list)):
        return "(" + ", ".join(_describe(o) for o in x) + ")"
    return type(x).__name__


def _model_device(model: nn.Module) -> torch.device:
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    return first.device if first is not None else torch.device("cpu")


def _normalize_device(device: torch.device | str) -> torch.device:
    device = torch.device(device)
    if device.type == "cuda" and device.index is None and torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return device


def _move(b: Any, device: torch.device) -> Any:
    """`b` with every tensor a plain `torch.Tensor` on `device` (converted or copied only when needed)."""
    if isinstance(b, torch.Tensor):
        if type(b) is not torch.Tensor:
            b = as_plain(b)
        return b if b.device == device else b.to(device, non_blocking=device.type == "cuda")
    if isinstance(b, tuple):
        return tuple(_move(o, device) for o in b)
    if isinstance(b, list):
        return [_move(o, device) for o in b]
    if isinstance(b, dict):
        return {k: _move(v, device) for k, v in b.items()}
    return b


class Learner(FitPoliciesMixin, LRFinderMixin, CheckpointMixin, ExportMixin, InferenceMixin, SummaryMixin):
    """Trains `model` on `dls` with `loss_func` and an optimizer made by `opt_func`.

    - `dls`: a `DataLoaders` (or any object with `.train` and `.valid` iterables of batches; a batch
      is a tuple whose first `dls.n_inp` parts are inputs, the rest targets).
    - `loss_func`: defaults to `dls.loss_func` (the default loss of the target type).
    - `opt_func(param_groups, lr=lr)` builds the optimizer lazily (`create_opt`) from
      `splitter(model)` (one list of parameters, or a list of groups for discriminative lrs).
    - `metrics`: `Metric`s or plain functions `f(pred, targ)`, computed on the validation set.
    - `wd` (weight decay for every fit, None: the optimizer's default), `wd_bn_bias` (False: no
      weight decay on normalization parameters and biases), `train_bn` (True: normalization layers
      keep training in frozen groups), `moms` (momentum schedule of `fit_one_cycle`).
    - `cbs`: extra callbacks; `default_cbs` adds `Recorder` and `ProgressCallback`
      (`TrainEvalCallback` is always there: the loop needs it).

    The model and the batches share a device: `dls.device` when it is set (the model is moved
    there at the start of a fit), else the model's; a batch is moved only when it is elsewhere.
    Batches reach the model as plain `torch.Tensor`s. Attached callbacks are listed in run order
    by `learn.cbs`, by name in `learn.callbacks`, and each is an attribute: `learn.recorder`.

    Persistence and inference come from mixins: `save`/`load` (checkpoints with exact resume,
    `lamina.core.learner.checkpoint`), `export` (`lamina.core.learner.export`, read back by
    `load_learner`), `predict`/`show_results` (`inference`) and `summary` (`summary`).
    """

    def __init__(
        self,
        dls: Any,
        model: nn.Module,
        loss_func: Callable | None = None,
        opt_func: Callable = Adam,
        lr: float | slice | Sequence[float] = 1e-3,
        splitter: Callable[[nn.Module], Any] = trainable_params,
        cbs: Callback | type | Sequence[Callback | type] | None = None,
        metrics: Any = None,
        path: str | Path | None = None,
        model_dir: str | Path = "models",
        wd: float | None = None,
        wd_bn_bias: bool = False,
        train_bn: bool = True,
        moms: tuple[float, float, float] = (0.95, 0.85, 0.95),
        default_cbs: bool = True,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"Learner: model must be a torch.nn.Module, got {type(model).__name__}")
        if not hasattr(dls, "train"):
            raise TypeError(
                f"Learner: dls must be a DataLoaders (with .train and .valid), got {type(dls).__name__}; "
                "wrap plain loaders as DataLoaders(train_loader, valid_loader)"
            )
        if loss_func is None:
            loss_func = getattr(dls, "loss_func", None)
            if loss_func is None:
                raise ValueError(
                    "Learner: no loss function: pass `loss_func=` (e.g. torch.nn.CrossEntropyLoss()); "
                    "the data offers none (it has no `loss_func`)"
                )
        for arg, value in (("loss_func", loss_func), ("opt_func", opt_func), ("splitter", splitter)):
            if not callable(value):
                raise TypeError(f"Learner: {arg} must be callable, got {type(value).__name__}")
        self.dls, self.model, self.loss_func = dls, model, loss_func
        self.opt_func, self.lr, self.splitter = opt_func, lr, splitter
        self.path = Path(path) if path is not None else Path(getattr(dls, "path", "."))
        self.model_dir = Path(model_dir)
        self.wd, self.wd_bn_bias, self.train_bn, self.moms = wd, wd_bn_bias, train_bn, moms
        self.opt: Any = None
        self.logger: Callable[[Any], Any] = print
        self.metrics = metrics
        for name in _LOOP_STATE:
            setattr(self, name, None)
        self.xb, self.yb = (), ()
        self.epoch = self.iter = self.train_iter = 0
        self.n_epoch, self.n_iter, self.pct_train, self.training = 1, 0, 0.0, False
        self.final_record: list[Any] | None = None
        self.in_fit = False
        self._device = _model_device(model)
        self._start_epoch = 0
        self._n_inp = getattr(dls, "n_inp", 1)
        self._cbs: list[Callback] = []
        self._cb_by_name: dict[str, Callback] = {}
        self._events: dict[str, tuple[tuple[Callback, Callable[[], Any]], ...]] = {}
        self._rebuild_events()
        user_cbs = [cb() if isinstance(cb, type) else cb for cb in _listify(cbs)]
        base: list[Callback] = []
        if not any(isinstance(cb, TrainEvalCallback) for cb in user_cbs):
            base.append(TrainEvalCallback())
        if default_cbs:
            base += [Recorder(), ProgressCallback()]
        self.add_cbs(base + user_cbs)
        self("after_create")

    # --- metrics --------------------------------------------------------------------------------
    @property
    def metrics(self) -> list[Metric]:
        """The metrics computed on the validation set (plain functions are wrapped by `mk_metric`)."""
        return self._metrics

    @metrics.setter
    def metrics(self, value: Any) -> None:
        self._metrics = [mk_metric(m) for m in _listify(value)]

    # --- callbacks ------------------------------------------------------------------------------
    @property
    def cbs(self) -> tuple[Callback, ...]:
        """The attached callbacks in run order (change them with `add_cb`/`remove_cb`)."""
        return tuple(self._cbs)

    @property
    def callbacks(self) -> dict[str, Callback]:
        """The attached callbacks by name; each is also the attribute `learn.<name>`."""
        return dict(self._cb_by_name)

    def _check_name(self, name: str, cb: Callback) -> None:
        if not name.isidentifier() or name.startswith("_"):
            raise ValueError(
                f"Learner.add_cb: {type(cb).__name__} has the name {name!r}, not a public identifier"
            )
        if hasattr(type(self), name) or name in _LOOP_STATE:
            raise ValueError(
                f"Learner.add_cb: {type(cb).__name__}'s name {name!r} would hide Learner.{name}; "
                "give the callback class another `name`"
            )
        current = self.__dict__.get(name)
        if current is not None and not isinstance(current, Callback):
            raise ValueError(
                f"Learner.add_cb: {type(cb).__name__}'s name {name!r} clashes with the learner attribute "
                f"{name!r}; give the callback class another `name`"
            )

    def add_cb(self, cb: Callback | type) -> Learner:
        """Attach `cb` (an instance, or a class to instantiate) and re-sort the callbacks."""
        if isinstance(cb, type) and issubclass(cb, Callback):
            cb = cb()
        if not isinstance(cb, Callback):
            raise TypeError(f"Learner.add_cb: expected a Callback instance or class, got {cb!r:.80}")
        if any(c is cb for c in self._cbs):
            return self
        name = cb.name
        self._check_name(name, cb)
        ordered = sort_callbacks([*self._cbs, cb])  # raises on cycles before anything changes
        cb.learn = self
        self._cbs = ordered
        self._cb_by_name[name] = cb
        object.__setattr__(self, name, cb)
        self._rebuild_events()
        return self

    def add_cbs(self, cbs: Iterable[Callback | type] | None) -> Learner:
        """Attach each of `cbs`."""
        for cb in _listify(cbs):
            self.add_cb(cb)
        return self

    def _matching(self, cb: Callback | type) -> list[Callback]:
        if isinstance(cb, type):
            return [c for c in self._cbs if isinstance(c, cb)]
        return [c for c in self._cbs if c is cb]

    def remove_cb(self, cb: Callback | type) -> Learner:
        """Detach `cb`, or every attached instance of `cb` when it is a class."""
        for c in self._matching(cb):
            self._cbs = [o for o in self._cbs if o is not c]
            name = c.name
            if self._cb_by_name.get(name) is c:
                others = [o for o in self._cbs if o.name == name]
                if others:
                    self._cb_by_name[name] = others[-1]
                    object.__setattr__(self, name, others[-1])
                else:
                    del self._cb_by_name[name]
                    self.__dict__.pop(name, None)
            c.learn = None
        self._rebuild_events()
        return self

    def remove_cbs(self, cbs: Iterable[Callback | type] | None) -> Learner:
        """Detach each of `cbs`."""
        for cb in _listify(cbs):
            self.remove_cb(cb)
        return self

    @contextmanager
    def added_cbs(self, cbs: Any) -> Iterator[Learner]:
        """Attach `cbs` for the duration of the block (those already attached stay attached after)."""
        new = [cb() if isinstance(cb, type) else cb for cb in _listify(cbs)]
        new = [cb for cb in new if not any(c is cb for c in self._cbs)]
        self.add_cbs(new)
        try:
            yield self
        finally:
            self.remove_cbs(new)

    @contextmanager
    def removed_cbs(self, cbs: Any) -> Iterator[Learner]:
        """Detach `cbs` (instances, or classes: all their instances) for the duration of the block."""
        gone = [c for cb in _listify(cbs) for c in self._matching(cb)]
        self.remove_cbs(gone)
        try:
            yield self
        finally:
            self.add_cbs(gone)

    def _rebuild_events(self) -> None:
        """Per event, the attached callbacks that handle it with their bound methods, in run order."""
        table = {}
        for event in EVENTS:
            table[event] = tuple(
                (cb, getattr(cb, event))
                for cb in self._cbs
                if hasattr(type(cb), event) or event in cb.__dict__
            )
        self._events = table

    def __call__(self, event_name: str | Iterable[str]) -> None:
        """Fire one event (or several, in order) on the attached callbacks."""
        names = [event_name] if isinstance(event_name, str) else list(event_name)
        for name in names:
            self._fire(canonical_event(name))

    def _fire(self, event: str) -> None:
        entries = self._events[event]
        if entries:
            inner = event in INNER_LOOP_EVENTS
            training = self.training
            for cb, method in entries:
                if not cb.run or (inner and not (cb.run_train if training else cb.run_valid)):
                    continue
                try:
                    method()
                except CancelException:
                    raise
                except Exception as e:
                    _add_note(e, f"(raised by callback {type(cb).__name__} at event {event})")
                    raise
        if event == "after_fit":
            for cb in self._cbs:
                cb.run = True

    def show_training_loop(self) -> None:
        """Print each event of a fit with the callbacks that run at it."""
        depth = 0
        for event in EVENTS:
            if (
                event.startswith("after_")
                and not event.startswith("after_cancel")
                and event[6:]
                in (
                    "fit",
                    "epoch",
                    "train",
                    "validate",
                    "batch",
                )
            ):
                depth -= 1
            names = [type(cb).__name__ for cb, _ in self._events[event]]
            print("  " * max(depth, 0) + f"{event:<22} {', '.join(names)}".rstrip())
            if event.startswith("before_") and event[7:] in ("fit", "epoch", "train", "validate", "batch"):
                depth += 1

    # --- optimizer and freezing -----------------------------------------------------------------
    def create_opt(self) -> None:
        """Build `self.opt = opt_func(splitter(model), lr=lr)` and flag normalization/bias parameters
        (`do_wd=False` unless `wd_bn_bias`, `force_train=True` when `train_bn`)."""
        groups = self.splitter(self.model)
        self.opt = self.opt_func(groups, lr=self.lr)
        in_opt = {id(p) for group in self.opt.param_lists for p in group}
        if not self.wd_bn_bias:
            for p in norm_bias_params(self.model, with_bias=True):
                if id(p) in in_opt:
                    self.opt.state[p]["do_wd"] = False
        if self.train_bn:
            for p in norm_bias_params(self.model, with_bias=False):
                if id(p) in in_opt:
                    self.opt.state[p]["force_train"] = True

    def freeze_to(self, n: int) -> None:
        """Train only the parameter groups from `n` on (normalization layers too when `train_bn`)."""
        if self.opt is None:
            self.create_opt()
        self.opt.freeze_to(n)
        self.opt.clear_state()

    def freeze(self) -> None:
        """Train only the last parameter group (e.g. the head of a pretrained model)."""
        self.freeze_to(-1)

    def unfreeze(self) -> None:
        """Train every parameter group."""
        self.freeze_to(0)

    # --- the training loop ----------------------------------------------------------------------
    def fit(
        self,
        n_epoch: int,
        lr: float | slice | Sequence[float] | None = None,
        wd: float | None = None,
        cbs: Any = None,
        reset_opt: bool = False,
        start_epoch: int = 0,
        resume: str | Path | None = None,
    ) -> None:
        """Train for `n_epoch` epochs at learning rate `lr` (default `self.lr`; a slice spreads it
        over the parameter groups), with `cbs` attached for this fit only. `resume`: a checkpoint
        written during an earlier, interrupted fit (`save` from a callback): load it and go on from
        where it stopped, exactly (sets `start_epoch`)."""
        if isinstance(n_epoch, bool) or not isinstance(n_epoch, int) or n_epoch < 0:
            raise ValueError(f"Learner.fit: n_epoch must be a non-negative integer, got {n_epoch!r}")
        if resume is not None:
            start_epoch = resume_epoch(self, self._model_file(resume))
        if not 0 <= start_epoch <= n_epoch:
            raise ValueError(
                f"Learner.fit: start_epoch must lie in [0, n_epoch={n_epoch}], got {start_epoch!r}"
            )
        with self.added_cbs(cbs):
            if reset_opt or self.opt is None:
                self.create_opt()
            wd = self.wd if wd is None else wd
            if wd is not None:
                self.opt.set_hyper("wd", wd)
            self.opt.set_hyper("lr", self.lr if lr is None else lr)
            self.n_epoch, self._start_epoch = n_epoch, start_epoch
            self._prepare_device()
            self.in_fit = True
            try:
                self._with_events(self._do_fit, "fit", CancelFitException)
            finally:
                self.in_fit = False
            self._end_cleanup()

    def _with_events(self, f: Callable[[], Any], kind: str, cancel: type[Exception]) -> None:
        try:
            self._fire(f"before_{kind}")
            f()
        except cancel:
            self._fire(f"after_cancel_{kind}")
        self._fire(f"after_{kind}")

    def _do_fit(self) -> None:
        for epoch in range(self._start_epoch, self.n_epoch):
            self.epoch = epoch
            self._with_events(self._do_epoch, "epoch", CancelEpochException)

    def _do_epoch(self) -> None:
        self.dl = self.dls.train
        self._with_events(self._all_batches, "train", CancelTrainException)
        self._do_epoch_validate()

    def _valid_loader(self) -> Any:
        try:
            dl = self.dls.valid
        except (IndexError, AttributeError):
            return ()
        return () if dl is None else dl

    def _do_epoch_validate(self, dl: Any = None) -> None:
        self.dl = self._valid_loader() if dl is None else dl
        with torch.no_grad():
            self._with_events(self._all_batches, "validate", CancelValidException)

    def _all_batches(self) -> None:
        dl = self.dl
        try:
            self.n_iter = len(dl)
        except TypeError:
            if self.training:
                raise TypeError(
                    f"Learner.fit: the training loader ({type(dl).__name__}) has no len(); the loop needs "
                    "the number of batches per epoch (for pct_train and the schedules)"
                ) from None
            self.n_iter = None
        if self.training and self.n_iter == 0:
            raise ValueError(
                "Learner.fit: the training loader yields no batches (len 0); is the dataset empty?"
            )
        self._n_inp = getattr(dl, "n_inp", None) or getattr(self.dls, "n_inp", 1)
        for i, b in enumerate(dl):
            self.one_batch(i, b)

    def one_batch(self, i: int, b: Any) -> None:
        """Run the batch step on batch `b` (number `i` of the current loader)."""
        self.iter = i
        self._split(self._to_device(b))
        self.pred = self.loss = None
        self._with_events(self._do_one_batch, "batch", CancelBatchException)

    def _to_device(self, b: Any) -> Any:
        return _move(b, self._device)

    def _split(self, b: Any) -> None:
        if isinstance(b, (tuple, list)):
            n = self._n_inp
            self.xb, self.yb = tuple(b[:n]), tuple(b[n:])
        elif isinstance(b, torch.Tensor):
            self.xb, self.yb = (b,), ()
        else:
            raise TypeError(
                f"Learner: batch {self.iter} is a {type(b).__name__}; expected a tuple or list (inputs, then "
                "targets) or a single input tensor"
            )

    def _phase(self) -> str:
        return "training" if self.training else "validation"

    def _do_one_batch(self) -> None:
        try:
            self.pred = self.model(*self.xb)
        except Exception as e:
            _add_note(
                e, f"(Learner: model forward on {self._phase()} batch {self.iter}, xb={_describe(self.xb)})"
            )
            raise
        self._fire("after_pred")
        if self.yb:
            try:
                self.loss = self.loss_func(self.pred, *self.yb)
            except Exception as e:
                _add_note(
                    e,
                    f"(Learner: loss_func on {self._phase()} batch {self.iter}, pred={_describe(self.pred)}, "
                    f"yb={_describe(self.yb)})",
                )
                raise
        self._fire("after_loss")
        if not self.training or not self.yb:
            return
        self._with_events(self._backward, "backward", CancelBackwardException)
        self._with_events(self._step, "step", CancelStepException)
        self.opt.zero_grad()

    def _backward(self) -> None:
        loss = self.loss
        try:
            loss.backward()
        except Exception as e:
            _add_note(
                e,
                f"(Learner: backward of learn.loss = {_describe(loss)} on batch {self.iter}; the loss "
                "must be a scalar tensor computed from the model's output with gradients enabled)",
            )
            raise

    def _step(self) -> None:
        self.opt.step()

    def _end_cleanup(self) -> None:
        self.dl, self.xb, self.yb, self.pred, self.loss = None, (), (), None, None

    def _prepare_device(self) -> None:
        """Put the model on `dls.device` when that is set; batches then follow the model."""
        wanted = getattr(self.dls, "device", None)
        if wanted is not None:
            wanted = _normalize_device(wanted)
            if _model_device(self.model) != wanted:
                self.model.to(wanted)
        self._device = _model_device(self.model)
        if isinstance(self.loss_func, nn.Module):
            self.loss_func.to(self._device)

    # --- logging switches -----------------------------------------------------------------------
    @contextmanager
    def no_logging(self) -> Iterator[Learner]:
        """Silence the results table (`learn.logger`) for the duration of the block."""
        old, self.logger = self.logger, _noop
        try:
            yield self
        finally:
            self.logger = old

    @contextmanager
    def no_bar(self) -> Iterator[Learner]:
        """Hide the progress bars for the duration of the block (the table still prints)."""
        progress = [cb for cb in self._cbs if isinstance(cb, ProgressCallback)]
        old = [cb.show_bar for cb in progress]
        for cb in progress:
            cb.show_bar = False
        try:
            yield self
        finally:
            for cb, value in zip(progress, old):
                cb.show_bar = value

    @contextmanager
    def quiet(self) -> Iterator[Learner]:
        """Neither bars nor table for the duration of the block."""
        with self.no_bar(), self.no_logging():
            yield self

    # --- evaluation -----------------------------------------------------------------------------
    def _loader(self, ds_idx: int, dl: Any) -> Any:
        if dl is not None:
            return dl
        if ds_idx == 0:
            return self.dls.train
        if ds_idx == 1:
            return self._valid_loader()
        return self.dls[ds_idx]

    @contextmanager
    def validation_context(self, cbs: Any = None) -> Iterator[Learner]:
        """Run a validation pass outside `fit`: extra `cbs` attached, no table, the fit/epoch events
        fired around it. Inside a running fit (a callback calling `validate`), the fit/epoch events
        are not fired again and the loop state is restored afterwards."""
        nested = self.in_fit
        saved = {name: getattr(self, name) for name in _LOOP_STATE}
        was_training = self.model.training
        with self.no_logging(), self.added_cbs(cbs):
            self.in_fit = False
            try:
                self._prepare_device()
                if not nested:
                    self._fire("before_fit")
                    self._fire("before_epoch")
                yield self
                if not nested:
                    self._fire("after_epoch")
                    self._fire("after_fit")
            finally:
                self.in_fit = nested
                if nested:
                    for name, value in saved.items():
                        setattr(self, name, value)
                    self.model.train(was_training)

    def validate(self, ds_idx: int = 1, dl: Any = None, cbs: Any = None) -> list[Any] | None:
        """Loss and metrics on a loader (default: the validation set) as `[valid_loss, *metrics]`
        (None without a `Recorder`)."""
        dl = self._loader(ds_idx, dl)
        with self.validation_context(cbs=cbs):
            self._do_epoch_validate(dl)
        recorder = self._cb_by_name.get("recorder")
        return None if recorder is None else recorder.last_valid

    def get_preds(
        self,
        ds_idx: int = 1,
        dl: Any = None,
        with_input: bool = False,
        with_decoded: bool = False,
        with_loss: bool = False,
        act: Callable | None = None,
        inner: bool = False,
        reorder: bool = True,
        cbs: Any = None,
    ) -> tuple[Any, ...]:
        """Predictions on a loader (default: the validation set), on the CPU, as
        `(inputs?, preds, targets, decoded?, losses?)`: `inputs` when `with_input`, `decoded` (the
        loss function's `decodes` of the predictions) when `with_decoded`, per-item `losses` when
        `with_loss`. `act` is applied to the predictions (default: the loss function's `activation`
        when it has one, else none). With `reorder`, results follow the dataset order: a shuffling
        loader is replaced by an unshuffled copy, and a loader that still reads its items in another
        order (its `get_idxs()` gives a permutation, e.g. one that sorts items by length) reads them in
        that recorded order, after which inputs, predictions, targets and losses are put back in dataset
        order. Batches of different lengths are padded to the longest (see
        `GatherPredsCallback.results`). `targets` is None for unlabelled data.
        `inner` (fastai's flag for a call from inside a fit) need not be set: such a call is detected
        (`in_fit`), fires no fit/epoch events and leaves the loop state as it was."""
        dl = self._loader(ds_idx, dl)
        order = None
        if reorder:
            dl = in_dataset_order(dl)
            order = loader_order(dl)
            if order is not None:
                dl = with_fixed_order(dl, order)
        gather = GatherPredsCallback(with_input=with_input, with_loss=with_loss)
        with ExitStack() as stack:
            if with_loss:
                stack.enter_context(loss_not_reduced(self))
            stack.enter_context(self.validation_context(cbs=[gather, *_listify(cbs)]))
            self._do_epoch_validate(dl)
        inputs, preds, targets, losses = gather.results()
        if order is not None:
            preds, targets, inputs, losses = to_dataset_order((preds, targets, inputs, losses), order)
        if act is None:
            act = getattr(self.loss_func, "activation", None)
        if act is not None and preds is not None:
            preds = act(preds)
        out: list[Any] = [inputs] if with_input else []
        out += [preds, targets]
        if with_decoded:
            decodes = getattr(self.loss_func, "decodes", None)
            out.append(decodes(preds) if callable(decodes) and preds is not None else preds)
        if with_loss:
            out.append(losses)
        return tuple(out)

    def __repr__(self) -> str:
        cbs = ", ".join(type(cb).__name__ for cb in self._cbs)
        loss = getattr(self.loss_func, "__name__", None) or type(self.loss_func).__name__
        return f"Learner(model={type(self.model).__name__}, loss_func={loss}, cbs=[{cbs}])"
