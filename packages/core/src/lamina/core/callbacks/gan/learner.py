"""`GANLearner`: a `Learner` for a `GANModule`, with its `GANLoss`, `GANTrainer` and switcher."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from lamina.core.callbacks.gan.loss import GANLoss, wgan_crit_loss, wgan_gen_loss
from lamina.core.callbacks.gan.models import GANModule
from lamina.core.callbacks.gan.trainer import FixedGANSwitcher, GANTrainer
from lamina.core.learner.callback import Callback
from lamina.core.learner.learner import Learner
from lamina.core.metrics import LossMetrics

__all__ = ["GANLearner"]


def _listify(x: Any) -> list[Any]:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


class GANLearner(Learner):
    """A `Learner` that trains `generator` and `critic` adversarially on `dls` of (noise, real image).

    The model is `GANModule(generator, critic)`, the loss `GANLoss(gen_loss_func, crit_loss_func, model)`;
    a `GANTrainer(switch_eval, clip, gen_first, show_img)` and the `switcher` (default
    `FixedGANSwitcher()`: one critic batch, one generator batch) are added to `cbs`, and the metrics
    `gen_loss` and `crit_loss` (on the validation set) to `metrics`. `kwargs` go to `Learner` (`opt_func`,
    `lr`, `wd`, `path`, ...); GANs usually train with little momentum, e.g. `opt_func=partial(Adam, mom=0.5)`.
    """

    def __init__(
        self,
        dls: Any,
        generator: nn.Module,
        critic: nn.Module,
        gen_loss_func: Callable,
        crit_loss_func: Callable,
        switcher: Callback | None = None,
        gen_first: bool = False,
        switch_eval: bool = True,
        show_img: bool = True,
        clip: float | None = None,
        cbs: Any = None,
        metrics: Any = None,
        **kwargs: Any,
    ) -> None:
        if generator is None or critic is None:
            raise TypeError("GANLearner needs both a generator and a critic (torch.nn.Module each)")
        if "loss_func" in kwargs:
            raise TypeError(
                "GANLearner: pass gen_loss_func and crit_loss_func, not loss_func (it is a GANLoss)"
            )
        gan = GANModule(generator, critic)
        loss_func = GANLoss(gen_loss_func, crit_loss_func, gan)
        switcher = FixedGANSwitcher() if switcher is None else switcher
        if isinstance(switcher, type):
            switcher = switcher()
        trainer = GANTrainer(clip=clip, switch_eval=switch_eval, gen_first=gen_first, show_img=show_img)
        cbs = [*_listify(cbs), trainer, switcher]
        metrics = [*_listify(metrics), *LossMetrics("gen_loss,crit_loss")]
        super().__init__(dls, gan, loss_func=loss_func, cbs=cbs, metrics=metrics, **kwargs)

    @classmethod
    def wgan(
        cls,
        dls: Any,
        generator: nn.Module,
        critic: nn.Module,
        switcher: Callback | None = None,
        clip: float = 0.01,
        switch_eval: bool = False,
        **kwargs: Any,
    ) -> GANLearner:
        """A Wasserstein GAN: critic loss `mean(real scores) - mean(fake scores)`, generator loss
        `mean(fake scores)`, critic weights clipped to `[-clip, clip]`, five critic batches per generator
        batch by default (`FixedGANSwitcher(n_crit=5, n_gen=1)`). The WGAN paper trains with RMSProp:
        `opt_func=RMSProp`."""
        if switcher is None:
            switcher = FixedGANSwitcher(n_crit=5, n_gen=1)
        return cls(
            dls,
            generator,
            critic,
            wgan_gen_loss,
            wgan_crit_loss,
            switcher=switcher,
            clip=clip,
            switch_eval=switch_eval,
            **kwargs,
        )
