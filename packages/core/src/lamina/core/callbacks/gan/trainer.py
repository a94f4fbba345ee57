"""`GANTrainer`, the callback that trains a GAN's generator and critic in turns, and the switchers that
decide when to change sides (`FixedGANSwitcher`, `AdaptiveGANSwitcher`).

Batches are `(noise, real images)`. In generator mode the generator makes images from the noise and its
loss is the critic's verdict on them (`GANLoss`); in critic mode the trainer swaps the batch so the
critic scores the real images (`xb`) and the loss generates images from the noise (`yb`) for the critic
to score too. The side not being trained is frozen (`requires_grad=False`, so the optimizer skips it) and,
with `switch_eval`, put in eval mode. Validation runs in generator mode and reports both losses.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from lamina.core.callbacks.gan.loss import GANLoss
from lamina.core.callbacks.gan.models import GANModule
from lamina.core.learner.callback import Callback, TrainEvalCallback
from lamina.core.metrics import AvgSmoothLoss

__all__ = ["GANTrainer", "FixedGANSwitcher", "AdaptiveGANSwitcher", "set_freeze_model"]


def set_freeze_model(m: nn.Module, rg: bool) -> None:
    """Set `requires_grad` of every parameter of `m` to `rg`."""
    for p in m.parameters():
        p.requires_grad_(rg)


def _in_notebook() -> bool:
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if callable(get_ipython) else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def _gan_module(model: nn.Module) -> GANModule:
    inner = getattr(model, "module", model)  # through a DistributedDataParallel-like wrapper
    if not isinstance(inner, GANModule):
        raise TypeError(
            f"GANTrainer: learn.model must be a GANModule (generator + critic), got {type(inner).__name__}; "
            "use GANLearner, or Learner(dls, GANModule(generator, critic), loss_func=GANLoss(...))"
        )
    return inner


class GANTrainer(Callback):
    """Trains a `GANModule` with a `GANLoss`, one side at a time (see the module doc).

    - `switch_eval`: put the side not being trained in eval mode;
    - `clip`: clamp the critic's weights to `[-clip, clip]` before every training batch (WGAN);
    - `beta`: smoothing of the per-side loss histories `gen_losses` / `crit_losses` (one value per batch
      of that side);
    - `gen_first`: start with the generator (default: the critic);
    - `show_img`: keep the first generated image of each epoch in `imgs` and, in a notebook, show the
      last generated batch after each epoch (`show_generated`).

    `switch(gen_mode=None)` changes side (a switcher calls it); `gen_mode` says which side trains.
    """

    run_after = TrainEvalCallback

    def __init__(
        self,
        switch_eval: bool = False,
        clip: float | None = None,
        beta: float = 0.98,
        gen_first: bool = False,
        show_img: bool = True,
    ) -> None:
        if clip is not None and not clip > 0:
            raise ValueError(f"GANTrainer: clip must be None or a positive number, got {clip!r}")
        self.switch_eval, self.clip, self.beta = switch_eval, clip, beta
        self.gen_first, self.show_img = gen_first, show_img
        self.gen_smoother, self.crit_smoother = AvgSmoothLoss(beta), AvgSmoothLoss(beta)
        self.gen_mode = bool(gen_first)
        self.last_gen: torch.Tensor | None = None
        self.imgs: list[torch.Tensor] = []
        self._gen_hist: list[torch.Tensor] = []
        self._crit_hist: list[torch.Tensor] = []
        self._grad_flags: dict[nn.Parameter, bool] | None = None

    # --- the two sides ------------------------------------------------------------------------
    @property
    def gan(self) -> GANModule:
        """The learner's `GANModule`."""
        return _gan_module(self.learn.model)

    def _loss(self) -> GANLoss:
        loss_func = self.learn.loss_func
        if not isinstance(loss_func, GANLoss):
            raise TypeError(
                f"GANTrainer: learn.loss_func must be a GANLoss, got {type(loss_func).__name__}; "
                "use GANLearner"
            )
        return loss_func

    def _apply(self, gen_mode: bool) -> None:
        """Freeze the side not trained in `gen_mode`, unfreeze the other, set the module and loss mode."""
        gan = self.gan
        trained, other = (gan.part(True), gan.part(False)) if gen_mode else (gan.part(False), gan.part(True))
        flags = self._grad_flags or {}
        for p in trained.parameters():
            p.requires_grad_(flags.get(p, True))
        set_freeze_model(other, False)
        if self.switch_eval:
            trained.train()
            other.eval()
        gan.switch(gen_mode)
        self._loss().switch(gen_mode)

    def switch(self, gen_mode: bool | None = None) -> None:
        """Train the generator (`True`), the critic (`False`), or the other side (`None`) from now on."""
        self.gen_mode = (not self.gen_mode) if gen_mode is None else bool(gen_mode)
        self._apply(self.gen_mode)

    # --- events --------------------------------------------------------------------------------
    def before_fit(self) -> None:
        gan, loss = self.gan, self._loss()
        if loss.gan_model is not gan:
            raise ValueError(
                "GANTrainer: learn.loss_func is the GANLoss of another GANModule than learn.model"
            )
        if not self.learn.in_fit:  # validate()/get_preds(): nothing to train
            return
        self._grad_flags = {p: p.requires_grad for p in gan.parameters()}
        self.gen_smoother.reset()
        self.crit_smoother.reset()
        self._gen_hist, self._crit_hist, self.imgs, self.last_gen = [], [], [], None
        self.switch(self.gen_first)

    def before_train(self) -> None:
        self._apply(self.gen_mode)  # after TrainEvalCallback's model.train(), and after validation

    def before_validate(self) -> None:
        self.gan.switch(True)  # generated images on the validation noise; the training side is kept
        self._loss().switch(True)

    def after_validate(self) -> None:
        self.gan.switch(self.gen_mode)
        self._loss().switch(self.gen_mode)

    def before_batch(self) -> None:
        if not self.learn.training:
            return
        if self.clip is not None:
            with torch.no_grad():
                for p in self.gan.part(False).parameters():
                    p.clamp_(-self.clip, self.clip)
        if not self.gen_mode:  # the critic scores the real images; the loss generates from the noise
            self.learn.xb, self.learn.yb = self.learn.yb, self.learn.xb

    def after_loss(self) -> None:
        learn = self.learn
        if learn.training or not learn.yb or not learn.xb:
            return
        critic = self.gan.part(False)
        self._loss().critic_loss(critic(learn.yb[0]), learn.xb[0])  # validation critic loss, for the metrics

    def after_batch(self) -> None:
        learn = self.learn
        if not learn.training or not isinstance(learn.loss, torch.Tensor):
            return
        smoother, hist = (
            (self.gen_smoother, self._gen_hist) if self.gen_mode else (self.crit_smoother, self._crit_hist)
        )
        smoother.accumulate(learn)
        hist.append(smoother.val / (1 - smoother.beta**smoother.count))
        if self.gen_mode and isinstance(learn.pred, torch.Tensor):
            self.last_gen = learn.pred.detach()

    def after_epoch(self) -> None:
        if not self.learn.in_fit or not self.show_img or self.last_gen is None:
            return
        self.imgs.append(self.last_gen[0].float().cpu())
        if _in_notebook():
            self.show_generated()

    def after_fit(self) -> None:
        if self._grad_flags is None:
            return
        for p, flag in self._grad_flags.items():
            p.requires_grad_(flag)
        self._grad_flags = None

    # --- results -------------------------------------------------------------------------------
    @property
    def gen_losses(self) -> list[float]:
        """The smoothed generator loss after each generator batch of the last fit."""
        return torch.stack(self._gen_hist).float().cpu().tolist() if self._gen_hist else []

    @property
    def crit_losses(self) -> list[float]:
        """The smoothed critic loss after each critic batch of the last fit."""
        return torch.stack(self._crit_hist).float().cpu().tolist() if self._crit_hist else []

    def show_generated(self, max_n: int = 16, figsize: tuple[float, float] | None = None) -> Any:
        """Show up to `max_n` images of the last generated batch (values in [-1, 1] are mapped to
        [0, 1]); returns the matplotlib axes."""
        if self.last_gen is None:
            raise ValueError(
                "GANTrainer.show_generated: no generated batch yet; train in generator mode first"
            )
        from lamina.core.data.show import get_grid

        imgs = self.last_gen[:max_n].float().cpu()
        if imgs.min() < 0:
            imgs = (imgs + 1) / 2
        imgs = imgs.clamp(0, 1)
        axs = get_grid(len(imgs), figsize=figsize or (2 * math.ceil(math.sqrt(len(imgs))),) * 2)
        for img, ax in zip(imgs, axs):
            if img.ndim == 3 and img.shape[0] in (1, 3):
                img = img[0] if img.shape[0] == 1 else img.permute(1, 2, 0)
            ax.imshow(img.numpy(), cmap="gray" if img.ndim == 2 else None)
            ax.set_axis_off()
        return axs


def _check_count(name: str, value: Any) -> None:
    if callable(value):
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"FixedGANSwitcher: {name} must be a positive int or a function of the generator's "
                         f"iterations, got {value!r}")  # fmt: skip


def _trainer(cb: Callback) -> GANTrainer:
    trainer = cb.learn.callbacks.get("gan_trainer")
    if not isinstance(trainer, GANTrainer):
        raise RuntimeError(
            f"{type(cb).__name__} switches a GANTrainer, but the learner has none; use GANLearner"
        )
    return trainer


class FixedGANSwitcher(Callback):
    """Train the critic for `n_crit` batches, then the generator for `n_gen`, and so on.

    `n_crit`/`n_gen` may be functions of the number of generator batches done so far in the fit (e.g.
    many critic batches early in a WGAN's training)."""

    run_after = GANTrainer

    def __init__(self, n_crit: int | Callable[[int], int] = 1, n_gen: int | Callable[[int], int] = 1) -> None:
        _check_count("n_crit", n_crit)
        _check_count("n_gen", n_gen)
        self.n_crit, self.n_gen = n_crit, n_gen
        self.n_c = self.n_g = self.gen_iters = 0

    def _target(self, n: int | Callable[[int], int]) -> int:
        return n if isinstance(n, int) else int(n(self.gen_iters))

    def before_fit(self) -> None:
        self.n_c = self.n_g = self.gen_iters = 0

    def after_batch(self) -> None:
        if not self.learn.training or self.learn.loss is None:
            return
        trainer = _trainer(self)
        if trainer.gen_mode:
            self.n_g += 1
            self.gen_iters += 1
            done = self.n_g >= self._target(self.n_gen)
        else:
            self.n_c += 1
            done = self.n_c >= self._target(self.n_crit)
        if done:
            trainer.switch()
            self.n_c = self.n_g = 0


class AdaptiveGANSwitcher(Callback):
    """Switch to the other side as soon as the loss of the side training falls below its threshold
    (`gen_thresh` for the generator, `critic_thresh` for the critic; None: after every batch). Reads the
    loss on the host after every training batch."""

    run_after = GANTrainer

    def __init__(self, gen_thresh: float | None = None, critic_thresh: float | None = None) -> None:
        self.gen_thresh, self.critic_thresh = gen_thresh, critic_thresh

    def after_batch(self) -> None:
        if not self.learn.training or self.learn.loss is None:
            return
        trainer = _trainer(self)
        thresh = self.gen_thresh if trainer.gen_mode else self.critic_thresh
        if thresh is None or float(self.learn.loss.detach()) < thresh:
            trainer.switch()
