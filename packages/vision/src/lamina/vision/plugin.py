"""What lamina-vision registers with the kernel (entry point `vision` in group `lamina`).

Thin for now: the vision datasets, so `URLs.PETS` and friends resolve to their public
addresses. Blocks, architectures and learners join as they are written.
"""

from __future__ import annotations

from lamina.core.plugins import DatasetSpec, hookimpl

__all__ = ["DATASETS", "lamina_datasets"]

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
