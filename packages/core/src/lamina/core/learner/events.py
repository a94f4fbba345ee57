"""The names of the training-loop events, in the order a fit runs them, and their old aliases."""

from __future__ import annotations

__all__ = ["Event", "EVENTS", "INNER_LOOP_EVENTS", "EVENT_ALIASES", "canonical_event"]


class Event:
    """The event names as attributes (`Event.before_fit == "before_fit"`), for code that prefers them."""

    after_create = "after_create"
    before_fit = "before_fit"
    before_epoch = "before_epoch"
    before_train = "before_train"
    before_batch = "before_batch"
    after_pred = "after_pred"
    after_loss = "after_loss"
    before_backward = "before_backward"
    after_cancel_backward = "after_cancel_backward"
    after_backward = "after_backward"
    before_step = "before_step"
    after_cancel_step = "after_cancel_step"
    after_step = "after_step"
    after_cancel_batch = "after_cancel_batch"
    after_batch = "after_batch"
    after_cancel_train = "after_cancel_train"
    after_train = "after_train"
    before_validate = "before_validate"
    after_cancel_validate = "after_cancel_validate"
    after_validate = "after_validate"
    after_cancel_epoch = "after_cancel_epoch"
    after_epoch = "after_epoch"
    after_cancel_fit = "after_cancel_fit"
    after_fit = "after_fit"


EVENTS: tuple[str, ...] = tuple(v for k, v in vars(Event).items() if not k.startswith("_"))

# Events inside the batch loop: a callback with `run_train=False` (`run_valid=False`) skips them while
# the learner trains (validates). The events around them always run.
INNER_LOOP_EVENTS: frozenset[str] = frozenset(
    {
        "before_batch",
        "after_pred",
        "after_loss",
        "before_backward",
        "after_cancel_backward",
        "after_backward",
        "before_step",
        "after_cancel_step",
        "after_step",
        "after_cancel_batch",
        "after_batch",
    }
)

# The paper's names (fastai v1/early v2): a callback method with the old name runs at the new event.
EVENT_ALIASES: dict[str, str] = {
    "begin_fit": "before_fit",
    "begin_epoch": "before_epoch",
    "begin_train": "before_train",
    "begin_batch": "before_batch",
    "begin_validate": "before_validate",
}


def canonical_event(name: str) -> str:
    """`name` itself, or the current name of an old alias; a clear error for an unknown event."""
    name = EVENT_ALIASES.get(name, name)
    if name not in EVENTS:
        raise ValueError(f"unknown training event {name!r}; the events are: {', '.join(EVENTS)}")
    return name
