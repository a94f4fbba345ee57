"""What lamina-vision registers with the kernel (entry point `vision` in group `lamina`).

- datasets: the fast.ai vision archives (`URLs.PETS`, `URLs.MNIST_TINY`, ...);
- blocks: `ImageBlock`, `MaskBlock`, `PointBlock`, `BBoxBlock`, `BBoxLblBlock` (`VISION_BLOCKS`);
- architectures: every ResNet and XResNet, as an `ArchitectureSpec` (cut, split, stats);
- learners: `"vision"` -> `vision_learner`, `"unet"` -> `unet_learner`;
- losses: `TensorMask` -> `CrossEntropyLossFlat(axis=1)`, `TensorPoint` -> `MSELossFlat`;
- demos: `"vision"` -> `lamina.vision.demo.demo`.

Importing this module imports `transforms` and `show`, so the vision cases of `ToTensor`, `show_batch`
and `show_results` are registered whenever the plugin is loaded. The vision classes (models, layers,
transforms) register themselves by name with `register_class` when their modules are imported (the models
in their modules, the image types and transforms in `lamina.vision.export`, which the learners hook imports),
so the `classes` hook is not used: registering them again would name them twice.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import lamina.vision.show  # noqa: F401 - registers the vision cases of show_batch / show_results
import lamina.vision.transforms  # noqa: F401 - registers the PIL cases of ToTensor
from lamina.core.losses import CrossEntropyLossFlat, MSELossFlat
from lamina.core.plugins import ArchitectureSpec, DatasetSpec, hookimpl

__all__ = [
    "DATASETS",
    "lamina_datasets",
    "lamina_blocks",
    "lamina_architectures",
    "lamina_learners",
    "lamina_losses",
    "lamina_demos",
]

_SAMPLE = "https://s3.amazonaws.com/fast-ai-sample/"
_IMAGES = "https://s3.amazonaws.com/fast-ai-imageclas/"
_COCO = "https://s3.amazonaws.com/fast-ai-coco/"

# The fast.ai dataset archives. Sizes (bytes) are the ones fastai checks its downloads against;
# no sha256 is published for these archives, so `sha256` stays None until one is computed from a
# verified download.
DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec("MNIST_TINY", f"{_SAMPLE}mnist_tiny.tgz", size=342_207),
    DatasetSpec("MNIST_SAMPLE", f"{_SAMPLE}mnist_sample.tgz", size=3_214_948),
    DatasetSpec("MNIST", f"{_IMAGES}mnist_png.tgz", size=15_683_414),
    DatasetSpec("PETS", f"{_IMAGES}oxford-iiit-pet.tgz", size=811_706_944),
    DatasetSpec("CAMVID_TINY", f"{_SAMPLE}camvid_tiny.tgz", size=2_314_212),
    DatasetSpec("COCO_TINY", f"{_COCO}coco_tiny.tgz", size=801_038),
    DatasetSpec("IMAGENETTE", f"{_IMAGES}imagenette2.tgz", size=1_557_161_267),
    DatasetSpec("IMAGENETTE_160", f"{_IMAGES}imagenette2-160.tgz", size=99_003_388),
    DatasetSpec("IMAGENETTE_320", f"{_IMAGES}imagenette2-320.tgz", size=341_663_724),
)


@hookimpl
def lamina_datasets() -> tuple[DatasetSpec, ...]:
    """The vision datasets, for `URLs` and `untar_data`."""
    return DATASETS


@hookimpl
def lamina_blocks() -> Mapping[str, Callable[..., Any]]:
    """The vision blocks, by name."""
    from lamina.vision.data import VISION_BLOCKS

    return dict(VISION_BLOCKS)


@hookimpl
def lamina_architectures() -> Mapping[str, ArchitectureSpec]:
    """Every ResNet and XResNet factory with its cut, parameter-group split and ImageNet stats."""
    from lamina.vision.arch_meta import architecture_specs

    return architecture_specs()


@hookimpl
def lamina_learners() -> Mapping[str, Callable[..., Any]]:
    """`"vision"`: `vision_learner`; `"unet"`: `unet_learner` (importing `lamina.vision.export` names the
    vision classes for `export`/`load_learner`)."""
    import lamina.vision.export  # noqa: F401  (registers the vision classes, transforms' specs, splitters)
    from lamina.vision.learner import unet_learner, vision_learner

    return {"vision": vision_learner, "unet": unet_learner}


@hookimpl
def lamina_losses() -> Mapping[str, Callable[..., Any]]:
    """Masks -> `CrossEntropyLossFlat(axis=1)` (classes on the channel axis); points -> `MSELossFlat`."""
    return {"TensorMask": functools.partial(CrossEntropyLossFlat, axis=1), "TensorPoint": MSELossFlat}


@hookimpl
def lamina_demos() -> Mapping[str, Callable[..., Any]]:
    """`"vision"`: trains on the shipped MNIST sample and draws its pictures (`lamina.vision.demo.demo`)."""
    from lamina.vision.demo import demo

    return {"vision": demo}
