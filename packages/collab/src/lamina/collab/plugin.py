"""What lamina-collab registers with the kernel (entry point `collab` in group `lamina`).

Thin for now: the MovieLens datasets, so `URLs.ML_SAMPLE` and `URLs.ML_100k` resolve to
their public addresses. Models and learners join as they are written.
"""

from __future__ import annotations

from lamina.core.plugins import DatasetSpec, hookimpl

__all__ = ["DATASETS", "lamina_datasets"]

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
