"""What lamina-text registers with the kernel (entry point `text` in group `lamina`).

Thin for now: the text datasets, so `URLs.IMDB` and friends resolve to their public
addresses. Tokenizers, blocks and learners join as they are written.
"""

from __future__ import annotations

from lamina.core.plugins import DatasetSpec, hookimpl

__all__ = ["DATASETS", "lamina_datasets"]

_SAMPLE = "https://s3.amazonaws.com/fast-ai-sample/"
_NLP = "https://s3.amazonaws.com/fast-ai-nlp/"

# The fast.ai dataset archives. Sizes (bytes) are the ones fastai checks its downloads against;
# no sha256 is published for these archives, so `sha256` stays None until one is computed from a
# verified download.
DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec("IMDB", f"{_NLP}imdb.tgz", size=144_440_600),
    DatasetSpec("IMDB_SAMPLE", f"{_SAMPLE}imdb_sample.tgz", size=571_827),
    DatasetSpec("WIKITEXT", f"{_NLP}wikitext-103.tgz", size=190_200_704),
    DatasetSpec("WIKITEXT_TINY", f"{_NLP}wikitext-2.tgz", size=4_070_055),
)


@hookimpl
def lamina_datasets() -> tuple[DatasetSpec, ...]:
    """The text datasets, for `URLs` and `untar_data`."""
    return DATASETS
