"""What lamina-text registers with the kernel (entry point `text` in group `lamina`).

- datasets: `IMDB`, `IMDB_SAMPLE`, `WIKITEXT`, `WIKITEXT_TINY` (fastai's archive addresses);
- tokenizers: `"spacy"`, `"sentencepiece"`, `"base"` (a split on spaces);
- blocks: `"TextBlock"`;
- architectures: `"AWD_LSTM"` (its parameter split is the classifier's: embedding, each LSTM layer, head);
- learners: `"language_model"` -> `language_model_learner`, `"text_classifier"` -> `text_classifier_learner`;
- demos: `"text"` -> `lamina.text.demo.demo` (a language model and a classifier on the shipped Wikipedia
  sample).

The text classes (tensors, transforms, models, loaders) register themselves by name with `register_class` when
their modules are imported, which the hooks here do; they are not returned again from a `lamina_classes` hook.
Importing `lamina.text.show` (done by the learners hook) adds the text `show_batch`/`show_results`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lamina.core.plugins import ArchitectureSpec, DatasetSpec, hookimpl

__all__ = [
    "DATASETS",
    "lamina_datasets",
    "lamina_tokenizers",
    "lamina_blocks",
    "lamina_architectures",
    "lamina_learners",
    "lamina_demos",
]

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


@hookimpl
def lamina_tokenizers() -> Mapping[str, Callable[..., Any]]:
    """The tokenizers, by the names `tok=` accepts."""
    from lamina.text.tokenizers import BaseTokenizer, SentencePieceTokenizer, SpacyTokenizer

    return {"spacy": SpacyTokenizer, "sentencepiece": SentencePieceTokenizer, "base": BaseTokenizer}


@hookimpl
def lamina_blocks() -> Mapping[str, Callable[..., Any]]:
    """`"TextBlock"` (with no arguments: spaCy tokenization of each text, vocabulary built at setup)."""
    from lamina.text.blocks import TextBlock

    return {"TextBlock": TextBlock}


@hookimpl
def lamina_architectures() -> Mapping[str, ArchitectureSpec]:
    """`"AWD_LSTM"`: ULMFiT's encoder; `split` gives the classifier's parameter groups."""
    from lamina.text.models.awd_lstm import AWD_LSTM, awd_lstm_clas_split

    return {"AWD_LSTM": ArchitectureSpec(factory=AWD_LSTM, split=awd_lstm_clas_split)}


@hookimpl
def lamina_learners() -> Mapping[str, Callable[..., Any]]:
    """The learner factories by task (importing them registers the text classes and show functions)."""
    from lamina.text import show  # noqa: F401  (registers show_batch/show_results for texts)
    from lamina.text.learner import language_model_learner, text_classifier_learner

    return {"language_model": language_model_learner, "text_classifier": text_classifier_learner}


@hookimpl
def lamina_demos() -> Mapping[str, Callable[..., Any]]:
    """`"text"`: a small language model and classifier trained on the shipped Wikipedia sample."""
    from lamina.text.demo import demo

    return {"text": demo}
