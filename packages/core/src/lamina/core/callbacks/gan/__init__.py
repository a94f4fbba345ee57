"""Generative adversarial networks (the paper's GAN case study): a generator and a critic trained in turns.

- `models`: `GANModule` (the two networks, switched between generator and critic mode),
  `basic_generator` / `basic_critic` (DCGAN), `AddChannels`;
- `loss`: `GANLoss` (routes a batch to the generator or critic loss), `gan_loss_from_func`, the WGAN losses;
- `trainer`: the `GANTrainer` callback (freezes the side not being trained, routes the inputs),
  `FixedGANSwitcher` and `AdaptiveGANSwitcher` (when to switch sides);
- `learner`: `GANLearner` (and `GANLearner.wgan`);
- `data`: `InvisibleTensor`, `generate_noise` and `NoiseBlock` (noise as the input, images as the target).

Import the public names from `lamina.core.all` or from these modules.
"""
