"""`Callback`, the base of everything that hooks into the training loop, the cancel exceptions and
`TrainEvalCallback`, the callback that switches between training and evaluation.

A callback defines methods named after events (`before_batch`, `after_loss`, ... see
`lamina.core.learner.events`). While it is attached to a learner it *reads* the learner's state as
its own attributes (`self.pred`, `self.loss`, `self.xb`, `self.epoch`, ...): this read-through is the
one documented place where Lamina forwards attribute lookups. Writing is explicit: assign
`self.learn.loss = ...`. Assigning `self.loss = ...` on an attached callback raises an
`AttributeError` that says so, because it would only hide the learner's value behind a copy.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from lamina.core.learner.events import EVENT_ALIASES, INNER_LOOP_EVENTS, canonical_event

if TYPE_CHECKING:
    from lamina.core.learner.learner import Learner

__all__ = [
    "Callback",
    "CancelException",
    "CancelFitException",
    "CancelEpochException",
    "CancelTrainException",
    "CancelValidException",
    "CancelBatchException",
    "CancelStepException",
    "CancelBackwardException",
    "TrainEvalCallback",
    "callback_name",
]


class CancelException(Exception):
    """Base of the exceptions a callback raises to skip part of the loop (catch this to catch them all)."""


class CancelFitException(CancelException):
    """Stop training: `after_cancel_fit`, then `after_fit` run."""


class CancelEpochException(CancelException):
    """Skip the rest of this epoch: `after_cancel_epoch`, then `after_epoch` run."""


class CancelTrainException(CancelException):
    """Skip the rest of this epoch's training phase (validation still runs)."""


class CancelValidException(CancelException):
    """Skip the rest of this epoch's validation phase."""


class CancelBatchException(CancelException):
    """Skip the rest of this batch (from `after_loss`: no backward, no step); `after_batch` still runs."""


class CancelStepException(CancelException):
    """Skip the optimizer step of this batch (gradients are still zeroed)."""


class CancelBackwardException(CancelException):
    """Skip the backward pass of this batch (the step then sees no new gradients)."""


def callback_name(cls_name: str) -> str:
    """Snake-case attribute name of a callback class: `TrainEvalCallback` -> `train_eval`."""
    base = re.sub(r"Callback$", "", cls_name) or cls_name
    base = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", base)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", base).lower()


class Callback:
    """Base class of callbacks: override event methods; read learner state as `self.<name>`.

    Class attributes: `order` (lower runs first), `run_after` / `run_before` (callback classes or
    class names this one must follow / precede, whatever their `order`), `run_train` / `run_valid`
    (False skips the batch-loop events of that phase). Setting `self.run = False` skips every event
    until the end of the current fit. Methods named with the old `begin_*` event names run at the
    matching `before_*` event. The learner reaches an attached callback as `learn.<name>`, `name`
    being the snake-case class name without `Callback` (override `name` to change it).
    """

    order: float = 0
    run_after: Any = None
    run_before: Any = None
    run_train: bool = True
    run_valid: bool = True
    learn: Learner | None = None
    run: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for old, new in EVENT_ALIASES.items():
            if old not in cls.__dict__:
                continue
            if new in cls.__dict__:
                raise TypeError(f"{cls.__name__} defines both {old} and {new}; {old} is an old name of {new}")
            setattr(cls, new, cls.__dict__[old])

    @property
    def name(self) -> str:
        """The attribute name on the learner (`learn.recorder`, `learn.train_eval`, ...)."""
        return callback_name(type(self).__name__)

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: read the learner's state (documented exception).
        if name.startswith("_"):
            raise AttributeError(name)
        learn = self.__dict__.get("learn")
        if learn is None:
            raise AttributeError(
                f"{type(self).__name__} has no attribute {name!r} (it is not attached to a Learner, "
                "whose state it would read)"
            )
        try:
            return getattr(learn, name)
        except AttributeError:
            raise AttributeError(
                f"neither {type(self).__name__} nor its Learner has an attribute {name!r}"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        learn = self.__dict__.get("learn")
        if (
            learn is not None
            and name not in self.__dict__
            and not hasattr(type(self), name)
            and hasattr(learn, name)
        ):
            raise AttributeError(
                f"{type(self).__name__}: `self.{name} = ...` would hide the learner's `{name}` behind a "
                f"copy on the callback; write `self.learn.{name} = ...` to change the learner's state "
                "(or give the callback's own attribute another name)"
            )
        object.__setattr__(self, name, value)

    def __call__(self, event_name: str) -> Any:
        """Run this callback's method for `event_name` (if it has one), as the learner would."""
        event_name = canonical_event(event_name)
        method = getattr(type(self), event_name, None)
        result = None
        if method is not None and self.run:
            training = getattr(self.learn, "training", False)
            if event_name not in INNER_LOOP_EVENTS or (self.run_train if training else self.run_valid):
                result = getattr(self, event_name)()
        if event_name == "after_fit":
            self.run = True
        return result

    def __repr__(self) -> str:
        return f"{type(self).__name__}(order={self.order})"


class TrainEvalCallback(Callback):
    """Switches the model between `train()` and `eval()` and keeps the loop counters.

    Sets `learn.training`, `learn.train_iter` (training batches done in this fit), `learn.pct_train`
    (fraction of the fit's training done: `(epoch + iter/n_iter) / n_epoch` before each batch) and
    calls `model.reset()` at the start of a fit when the model has one (recurrent models).
    """

    order = -10

    def after_create(self) -> None:
        self.learn.n_epoch = 1

    def before_fit(self) -> None:
        self.learn.train_iter = 0
        self.learn.pct_train = 0.0
        reset = getattr(self.learn.model, "reset", None)
        if callable(reset):
            reset()

    def before_train(self) -> None:
        self.learn.pct_train = self.learn.epoch / self.learn.n_epoch
        self.learn.model.train()
        self.learn.training = True

    def after_batch(self) -> None:
        learn = self.learn
        if not learn.training or not learn.yb:
            return
        learn.train_iter += 1
        learn.pct_train = (learn.epoch + (learn.iter + 1) / learn.n_iter) / learn.n_epoch

    def before_validate(self) -> None:
        self.learn.model.eval()
        self.learn.training = False
