"""`GANLoss`: the loss of whichever side of a GAN is training, and ready-made loss pairs.

In generator mode the learner's prediction is the generated batch and the loss is
`gen_loss_func(critic(generated), generated, target)`; in critic mode the prediction is the critic's
score of the real images and the loss is `crit_loss_func(real_scores, critic(generator(noise)))`, the
noise being what the `GANTrainer` passes as the target. Each call stores its value (detached) as
`gen_loss` or `crit_loss`, which `LossMetrics('gen_loss,crit_loss')` report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from lamina.core.callbacks.gan.models import GANModule

__all__ = ["GANLoss", "gan_loss_from_func", "wgan_gen_loss", "wgan_crit_loss"]


class GANLoss(nn.Module):
    """The loss of a `GANModule`, switched between generator and critic mode like the module.

    - `gen_loss_func(fake_pred, output, target)`: the generator's loss from the critic's scores of the
      generated images `output` (and the real images `target`, for losses that compare them);
    - `crit_loss_func(real_pred, fake_pred)`: the critic's loss from its scores of real and generated images.
    """

    def __init__(self, gen_loss_func: Callable, crit_loss_func: Callable, gan_model: GANModule) -> None:
        super().__init__()
        for name, f in (("gen_loss_func", gen_loss_func), ("crit_loss_func", crit_loss_func)):
            if not callable(f):
                raise TypeError(f"GANLoss: {name} must be callable, got {type(f).__name__}")
        if not isinstance(gan_model, GANModule):
            raise TypeError(f"GANLoss: gan_model must be a GANModule, got {type(gan_model).__name__}")
        self.gen_loss_func, self.crit_loss_func = gen_loss_func, crit_loss_func
        self.__dict__["gan_model"] = gan_model  # used, not owned: its parameters are the learner's model's
        self.gen_mode = gan_model.gen_mode
        self.gen_loss: Tensor | None = None
        self.crit_loss: Tensor | None = None

    def forward(self, pred: Any, *targets: Any) -> Tensor:
        if self.gen_mode:
            return self.generator_loss(pred, *targets)
        return self.critic_loss(pred, *targets)

    def generator_loss(self, output: Tensor, target: Any = None) -> Tensor:
        """The generator's loss on its `output` (the critic scores it; `target`: the real images)."""
        fake_pred = self.gan_model.part(gen_mode=False)(output)
        loss = self.gen_loss_func(fake_pred, output, target)
        self.gen_loss = loss.detach()
        return loss

    def critic_loss(self, real_pred: Tensor, noise: Tensor) -> Tensor:
        """The critic's loss from its scores of the real images and of images generated from `noise`
        (generated without gradients: only the critic learns from this loss)."""
        with torch.no_grad():
            fake = self.gan_model.part(gen_mode=True)(noise)
        fake_pred = self.gan_model.part(gen_mode=False)(fake)
        loss = self.crit_loss_func(real_pred, fake_pred)
        self.crit_loss = loss.detach()
        return loss

    def switch(self, gen_mode: bool | None = None) -> None:
        """Generator mode (`True`), critic mode (`False`), or the other mode (`None`)."""
        self.gen_mode = (not self.gen_mode) if gen_mode is None else bool(gen_mode)

    def extra_repr(self) -> str:
        return f"gen_mode={self.gen_mode}"


def wgan_gen_loss(fake_pred: Tensor, output: Tensor = None, target: Any = None) -> Tensor:
    """Wasserstein GAN, generator: the mean critic score of the generated images (lower = more real)."""
    return fake_pred.mean()


def wgan_crit_loss(real_pred: Tensor, fake_pred: Tensor) -> Tensor:
    """Wasserstein GAN, critic: mean score of the real images minus that of the generated ones."""
    return real_pred.mean() - fake_pred.mean()


def gan_loss_from_func(
    loss_gen: Callable, loss_crit: Callable, weights_gen: Sequence[float] | None = None
) -> tuple[Callable, Callable]:
    """`(gen_loss_func, crit_loss_func)` for `GANLoss` from two ordinary losses.

    The generator's loss is `w0 * loss_gen(output, target) + w1 * loss_crit(fake_pred, 1)` (`weights_gen`
    = `(w0, w1)`, default `(1, 1)`: e.g. a pixel loss against the target plus fooling the critic; use
    `(0, 1)` for a pure noise-to-image GAN); the critic's is `(loss_crit(real_pred, 1) +
    loss_crit(fake_pred, 0)) / 2`. `loss_crit` takes logits, e.g. `nn.BCEWithLogitsLoss()`."""
    w_pixel, w_adv = (1.0, 1.0) if weights_gen is None else tuple(weights_gen)

    def gen_loss_func(fake_pred: Tensor, output: Tensor, target: Any) -> Tensor:
        adversarial = loss_crit(fake_pred, torch.ones_like(fake_pred))
        if w_pixel == 0:
            return w_adv * adversarial
        return w_pixel * loss_gen(output, target) + w_adv * adversarial

    def crit_loss_func(real_pred: Tensor, fake_pred: Tensor) -> Tensor:
        real = loss_crit(real_pred, torch.ones_like(real_pred))
        fake = loss_crit(fake_pred, torch.zeros_like(fake_pred))
        return (real + fake) / 2

    return gen_loss_func, crit_loss_func
