"""The vision demo (registered as `"vision"` through `lamina_demos`): the paper's image classification
workflow on the MNIST sample shipped with lamina-vision (3s and 7s, 28x28 grey PNGs).

`demo(out_dir, quick)` builds `ImageDataLoaders.from_folder` (grey images, light augmentation), draws a
batch, runs the learning-rate finder (30 or 60 steps), trains a `vision_learner` from scratch (no
download: the sample is offline) on a light XResNet-18 (half width, two-conv stem: a few seconds per
epoch on a CPU) with the 1cycle policy, and looks at the results. It writes `show_batch.png`,
`lr_find.png`, `show_results.png`, `confusion_matrix.png` and `top_losses.png` into `out_dir` and
returns the validation accuracy with a few more figures.
"""

from __future__ import annotations

import functools
import random
import time
from pathlib import Path
from typing import Any

import torch

from lamina.core.metrics import accuracy
from lamina.vision.augment.presets import aug_transforms
from lamina.vision.factories import ImageDataLoaders
from lamina.vision.image import PILImageBW
from lamina.vision.interpret import ClassificationInterpretation
from lamina.vision.learner import vision_learner
from lamina.vision.models.xresnet import xresnet18
from lamina.vision.samples import mnist_tiny_path

__all__ = ["demo"]

_SEED = 42


def _save(fig: Any, path: Path) -> str:
    import matplotlib.pyplot as plt

    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path.name


def demo(out_dir: Path, quick: bool = False) -> dict:
    """Train on the shipped MNIST sample and write the pictures into `out_dir` (created if needed).

    `quick` trains for 4 epochs instead of 8 with a shorter learning-rate sweep. Returns `accuracy` (on the
    200 validation images), the lr the finder suggests (`lr_valley`), `epochs`, `seconds` and `files`."""
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    random.seed(_SEED)
    torch.manual_seed(_SEED)
    epochs = 4 if quick else 8
    dls = ImageDataLoaders.from_folder(
        mnist_tiny_path(),
        img_cls=PILImageBW,
        bs=16,
        seed=_SEED,
        batch_tfms=aug_transforms(do_flip=False, max_rotate=10.0, max_warp=0.0, max_lighting=0.0),
    )
    files = [_save(dls.show_batch(max_n=9, figsize=(6, 6)), out_dir / "show_batch.png")]

    arch = functools.partial(xresnet18, widen=0.5, stem_szs=(16, 32))
    learn = vision_learner(dls, arch, pretrained=False, metrics=accuracy)
    with learn.quiet():
        suggested = learn.lr_find(num_it=30 if quick else 60, show_plot=True)
    files.append(_save(plt.gcf(), out_dir / "lr_find.png"))

    learn.fit_one_cycle(epochs, 1e-2)

    valid = learn.dls.valid.new(shuffle=True, drop_last=False, seed=_SEED)  # a mix of both digits
    files.append(_save(learn.show_results(dl=valid, max_n=9, figsize=(6, 6)), out_dir / "show_results.png"))

    interp = ClassificationInterpretation.from_learner(learn)
    files.append(_save(interp.plot_confusion_matrix(figsize=(4, 4)), out_dir / "confusion_matrix.png"))
    files.append(_save(interp.plot_top_losses(9, figsize=(7, 7)), out_dir / "top_losses.png"))
    cm = interp.confusion_matrix()
    return {
        "accuracy": float(cm.trace() / cm.sum()),
        "lr_valley": float(suggested.valley),
        "epochs": epochs,
        "seconds": round(time.perf_counter() - start, 1),
        "files": files,
    }
