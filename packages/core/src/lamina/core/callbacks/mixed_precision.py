"""`MixedPrecision`: the forward pass under `torch.autocast` (fp16 or bf16), with `GradScaler` loss
scaling for fp16; and the `learn.to_fp16()`, `learn.to_bf16()`, `learn.to_fp32()` switches.

Autocast is switched on by a forward pre-hook on `learn.model` and off by a forward hook registered
with `always_call=True`, so it covers exactly the model's forward pass and is switched off even when
the forward raises (a fit that fails leaves no autocast behind). The model's output is cast back to
float32 in `after_pred`, so the loss and the metrics are computed in full precision.

With fp16 the loss is multiplied by the scaler's scale for the backward pass (the reported loss stays
the true one, see `lamina.core.callbacks.backward_loss`); before the step the gradients are unscaled
and checked for inf/NaN; a step with bad gradients is skipped (`CancelStepException`) and the scale
lowered. That check reads one flag on the host per optimizer step, as `torch.amp.GradScaler.step`
does; nothing else is read back (the current scale only when you ask `mixed_precision.scale`). bf16
needs no scaling and reads nothing back.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lamina.core.basics.meta import patch
from lamina.core.callbacks.backward_loss import restore_reported_loss, set_backward_loss
from lamina.core.learner.callback import Callback, CancelStepException
from lamina.core.learner.learner import Learner

__all__ = ["MixedPrecision", "AMP_DTYPES"]

AMP_DTYPES: dict[str, torch.dtype] = {"fp16": torch.float16, "bf16": torch.bfloat16}
_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _amp_dtype(amp_mode: Any) -> torch.dtype:
    if isinstance(amp_mode, torch.dtype) and amp_mode in _LOW_PRECISION:
        return amp_mode
    if isinstance(amp_mode, str) and amp_mode.lower() in AMP_DTYPES:
        return AMP_DTYPES[amp_mode.lower()]
    raise ValueError(
        f"MixedPrecision: amp_mode must be 'fp16', 'bf16', torch.float16 or torch.bfloat16, got {amp_mode!r}"
    )


def to_float(x: Any) -> Any:
    """Every fp16/bf16 tensor in `x` (nested tuples, lists, dicts) cast to float32; the rest as it is."""
    if isinstance(x, torch.Tensor):
        return x.float() if x.dtype in _LOW_PRECISION else x
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*(to_float(o) for o in x))
    if isinstance(x, (tuple, list)):
        return type(x)(to_float(o) for o in x)
    if isinstance(x, dict):
        return {k: to_float(v) for k, v in x.items()}
    return x


def _device_type(model: nn.Module) -> str:
    first = next(model.parameters(), None)
    return first.device.type if first is not None else "cpu"


class _ScalerView:
    """What `GradScaler.step` needs of an optimizer: `param_groups`, and a `step` that only records that
    the scaler found the gradients finite (the learner makes the real step afterwards)."""

    def __init__(self, opt: Any) -> None:
        self.opt = opt
        self.finite = False

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.opt.param_groups

    def step(self, *args: Any, **kwargs: Any) -> None:
        self.finite = True


class MixedPrecision(Callback):
    """Train and evaluate under `torch.autocast(dtype=fp16 or bf16)` on the model's device.

    `amp_mode`: `'fp16'` (default, with dynamic loss scaling by `torch.amp.GradScaler`, configured by
    `init_scale`, `growth_factor`, `backoff_factor`, `growth_interval`) or `'bf16'` (no scaling). Runs
    on CPU and GPU. `skipped` counts the optimizer steps of the last fit skipped for inf/NaN gradients
    (fp16), `scale` is the current loss scale. See the module docstring for how autocast is switched
    and what is read on the host.
    """

    order = 10

    def __init__(
        self,
        amp_mode: str | torch.dtype = "fp16",
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
    ) -> None:
        self.dtype = _amp_dtype(amp_mode)
        self.scaler_kwargs = dict(
            init_scale=init_scale,
            growth_factor=growth_factor,
            backoff_factor=backoff_factor,
            growth_interval=growth_interval,
        )
        self.scaler: torch.amp.GradScaler | None = None
        self.skipped = 0
        self._device_type = "cpu"
        self._handles: list[Any] = []
        self._contexts: list[torch.autocast] = []
        self._view: _ScalerView | None = None
        self._unscaled = False

    @property
    def amp_mode(self) -> str:
        """`'fp16'` or `'bf16'`."""
        return "fp16" if self.dtype == torch.float16 else "bf16"

    @property
    def scale(self) -> float | None:
        """The current loss scale (fp16; a host read), None without a scaler."""
        return None if self.scaler is None else float(self.scaler.get_scale())

    # --- autocast around the model's forward ------------------------------------------------------
    def _enter(self, module: nn.Module, args: Any) -> None:
        ctx = torch.autocast(device_type=self._device_type, dtype=self.dtype)
        ctx.__enter__()
        self._contexts.append(ctx)

    def _exit(self, module: nn.Module, args: Any, output: Any) -> None:
        if self._contexts:
            self._contexts.pop().__exit__(None, None, None)

    def _hook(self) -> None:
        self._unhook()
        model = self.learn.model
        self._device_type = _device_type(model)
        self._handles = [
            model.register_forward_pre_hook(self._enter),
            model.register_forward_hook(self._exit, prepend=True, always_call=True),
        ]

    def _unhook(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        while self._contexts:  # defensive: a forward whose always-call hooks did not run (traced by dynamo)
            self._contexts.pop().__exit__(None, None, None)

    # --- events -----------------------------------------------------------------------------------
    def before_fit(self) -> None:
        self._hook()
        if not self.learn.in_fit:  # validate()/get_preds(): autocast only
            return
        fp16 = self.dtype == torch.float16
        self.scaler = torch.amp.GradScaler(self._device_type, **self.scaler_kwargs) if fp16 else None
        self.skipped = 0
        self._view = _ScalerView(self.learn.opt) if fp16 else None

    def after_pred(self) -> None:
        self.learn.pred = to_float(self.learn.pred)

    def before_backward(self) -> None:
        if self.scaler is not None:
            set_backward_loss(self.learn, self.scaler.scale(self.learn.loss))

    def after_backward(self) -> None:
        restore_reported_loss(self.learn)

    def after_cancel_backward(self) -> None:
        restore_reported_loss(self.learn)

    def before_step(self) -> None:
        self._unscaled = False
        if self.scaler is None:
            return
        view = self._view
        view.finite = False
        self.scaler.step(view)  # unscales the gradients; calls view.step() only when all are finite
        self._unscaled = True
        if not view.finite:
            self.skipped += 1
            raise CancelStepException()

    def after_step(self) -> None:
        self._update()

    def after_batch(self) -> None:
        self._update()  # a later callback cancelled the batch after the unscaling: still update

    def _update(self) -> None:
        if self.scaler is not None and self._unscaled:
            self.scaler.update()
            self._unscaled = False

    def after_fit(self) -> None:
        self._unhook()
        self._view = None

    def __repr__(self) -> str:
        return f"MixedPrecision({self.amp_mode!r})"


@patch
def to_fp16(self: Learner, **kwargs: Any) -> Learner:
    """Train in mixed precision with fp16 and loss scaling from now on (`kwargs`: the `GradScaler`
    settings of `MixedPrecision`); replaces any `MixedPrecision` already attached. Returns the learner."""
    _detach_mixed_precision(self)
    return self.add_cb(MixedPrecision("fp16", **kwargs))


@patch
def to_bf16(self: Learner) -> Learner:
    """Train in mixed precision with bf16 (no loss scaling) from now on; returns the learner."""
    _detach_mixed_precision(self)
    return self.add_cb(MixedPrecision("bf16"))


@patch
def to_fp32(self: Learner) -> Learner:
    """Back to full precision: detach every `MixedPrecision`; returns the learner."""
    return _detach_mixed_precision(self)


def _detach_mixed_precision(learn: Learner) -> Learner:
    for cb in learn.cbs:
        if isinstance(cb, MixedPrecision):
            cb._unhook()  # hooks left by a fit that failed
    return learn.remove_cb(MixedPrecision)
