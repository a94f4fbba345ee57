"""`Learner.summary()`: the model layer by layer on one real batch, with the training setup.

One forward pass on the first inputs of a training batch (eval mode, no gradients, each layer's training
flag restored) with hooks on every leaf layer gives, per layer that ran: its name and class, the shape of its
output, its parameter count and whether they train. Below the table: total, trainable and frozen parameter
counts, the optimizer, the loss function, the frozen/unfrozen state of the parameter groups and the
callbacks in run order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from lamina.core.hooks import layer_info
from lamina.core.tensors import as_plain

if TYPE_CHECKING:
    from lamina.core.learner.learner import Learner

__all__ = ["SummaryText", "learner_summary", "SummaryMixin"]

_WIDTH = 86


class SummaryText(str):
    """A multi-line text that shows itself as it reads (in a REPL or a notebook cell)."""

    def __repr__(self) -> str:
        return str(self)


def _name(f: Any) -> str:
    return getattr(f, "__name__", None) or getattr(f, "__qualname__", None) or repr(f)


def _loss_name(loss: Any) -> str:
    return loss.__name__ if hasattr(loss, "__name__") else repr(loss)


def _shape(shape: tuple[int, ...] | None) -> str:
    return "?" if shape is None else " x ".join(map(str, shape)) or "scalar"


def _inputs(learn: Learner) -> tuple[torch.Tensor, ...]:
    """The inputs of one training batch, as plain tensors on the model's device."""
    try:
        dl = learn.dls.train
    except (IndexError, AttributeError):
        dl = None
    if dl is None:
        raise ValueError("Learner.summary: the learner has no training loader to take a batch from")
    try:
        b = dl.one_batch() if callable(getattr(dl, "one_batch", None)) else next(iter(dl))
    except Exception as e:
        raise ValueError(
            f"Learner.summary needs one batch of the training loader, which failed: {type(e).__name__}: {e}"
        ) from e
    n_inp = getattr(dl, "n_inp", None) or getattr(learn.dls, "n_inp", 1)
    parts = tuple(b[:n_inp]) if isinstance(b, (tuple, list)) else (b,)
    device = next(iter([*learn.model.parameters(), *learn.model.buffers()]), torch.empty(0)).device
    return tuple(as_plain(x).to(device) if isinstance(x, torch.Tensor) else x for x in parts)


def _frozen_state(learn: Learner) -> str:
    if learn.opt is None:
        learn.create_opt()
    n_groups, frozen = len(learn.opt.param_lists), learn.opt.frozen_idx
    if frozen == 0:
        return f"Model unfrozen ({n_groups} parameter group{'s' if n_groups != 1 else ''}, all training)"
    return f"Model frozen up to parameter group #{frozen} (of {n_groups})"


def learner_summary(learn: Learner) -> SummaryText:
    """The summary described in the module docstring, as text."""
    xb = _inputs(learn)
    try:
        rows = layer_info(learn.model, *xb)
    except Exception as e:
        shapes = ", ".join(
            str(tuple(x.shape)) if isinstance(x, torch.Tensor) else type(x).__name__ for x in xb
        )
        if hasattr(e, "add_note"):
            e.add_note(
                f"(Learner.summary: the forward pass of {type(learn.model).__name__} on inputs {shapes})"
            )
        raise
    first = next((x for x in xb if isinstance(x, torch.Tensor)), None)
    head = (
        f"{type(learn.model).__name__} (input shape: {_shape(None if first is None else tuple(first.shape))})"
    )
    title = f"{'Layer (type)':<38}{'Output shape':<22}{'Param #':>12}  Trainable"
    lines = [head, "=" * _WIDTH, title, "=" * _WIDTH]
    for r in rows:
        layer = f"{r.name} ({r.type})" if r.name else r.type
        trainable = str(r.trainable) if r.n_params else ""
        lines.append(f"{layer[:37]:<38}{_shape(r.shape):<22}{r.n_params:>12,}  {trainable}".rstrip())
    params = list(learn.model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    frozen = _frozen_state(learn)
    lines += [
        "=" * _WIDTH,
        f"Total params: {total:,}",
        f"Total trainable params: {trainable:,}",
        f"Total non-trainable params: {total - trainable:,}",
        "",
        f"Optimizer used: {_name(learn.opt_func)}",
        f"Loss function: {_loss_name(learn.loss_func)}",
        "",
        frozen,
        "",
        "Callbacks:",
        *(f"  - {type(cb).__name__}" for cb in learn.cbs),
    ]
    return SummaryText("\n".join(lines))


class SummaryMixin:
    """`Learner.summary`."""

    def summary(self: Learner) -> SummaryText:
        """The model layer by layer (output shape, parameters, trainable) on one training batch, with the
        parameter totals, the optimizer, the loss, the frozen state and the callbacks."""
        return learner_summary(self)
