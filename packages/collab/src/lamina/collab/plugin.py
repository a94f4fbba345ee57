"""What lamina-collab registers with the kernel (entry point `collab` in group `lamina`).

- datasets: `ML_SAMPLE` and `ML_100k`, so `URLs.ML_SAMPLE` and `URLs.ML_100k` resolve to their public
  addresses (MovieLens is for non-commercial research use: it is downloaded, never shipped);
- learners: `"collab"` -> `collab_learner`;
- demos: `"collab"` -> `lamina.collab.demo.demo`;
- classes: `EmbeddingDotBias` and `EmbeddingNN` are registered by name (`register_class`) when their module
  is imported, which the learners hook does; they are not returned again from a `lamina_classes` hook.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lamina.core.plugins import DatasetSpec, hookimpl

__all__ = ["DATASETS", "lamina_datasets", "lamina_learners", "lamina_demos"]

# ML_SAMPLE is fast.ai's archive, with the size (bytes) fastai checks its download against.
# ML_100k comes from GroupLens, whose size and sha256 we have not recorded. No sha256 is
# published for either, so `sha256` stays None until one is computed from a verified download.
DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec("ML_SAMPLE", "https://s3.amazonaws.com/fast-ai-sample/movie_lens_sample.tgz", size=51_790),
    DatasetSpec("ML_100k", "https://files.grouplens.org/datasets/movielens/ml-100k.zip"),
)


@hookimpl
def lamina_datasets() -> tuple[DatasetSpec, ...]:
    """The collaborative-filtering datasets, for `URLs` and `untar_data`."""
    return DATASETS


@hookimpl
def lamina_learners() -> Mapping[str, Callable[..., Any]]:
    """`"collab"`: `collab_learner` (importing it registers the collab model classes)."""
    import lamina.collab.export  # noqa: F401  (names the collab loaders and learner for export)
    from lamina.collab.learner import collab_learner  # imported when the plugins load, not before

    return {"collab": collab_learner}


@hookimpl
def lamina_demos() -> Mapping[str, Callable[..., Any]]:
    """`"collab"`: the paper's collaborative-filtering code on MovieLens' sample (or generated ratings)."""
    from lamina.collab.demo import demo

    return {"collab": demo}
