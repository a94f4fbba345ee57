"""What lamina-tabular registers with the kernel (entry point `tabular` in group `lamina`).

Thin for now: the tabular dataset, so `URLs.ADULT_SAMPLE` resolves to its public address.
Blocks and learners join as they are written.
"""

from __future__ import annotations

from lamina.core.plugins import DatasetSpec, hookimpl

__all__ = ["DATASETS", "lamina_datasets"]

# The fast.ai archive. Its size (bytes) is the one fastai checks its download against; no sha256
# is published for it, so `sha256` stays None until one is computed from a verified download.
DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec("ADULT_SAMPLE", "https://s3.amazonaws.com/fast-ai-sample/adult_sample.tgz", size=968_212),
)


@hookimpl
def lamina_datasets() -> tuple[DatasetSpec, ...]:
    """The tabular datasets, for `URLs` and `untar_data`."""
    return DATASETS
