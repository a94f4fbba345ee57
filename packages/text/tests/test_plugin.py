"""lamina-text is found through its `lamina` entry point and registers its datasets, tokenizers, block,
architecture, learner factories and demo."""

from pathlib import Path

import importlib_metadata
import pytest

from lamina.core.data.block import DataBlock
from lamina.core.plugins import AUTOLOAD_ENV, ArchitectureSpec, plugin_info, registry, reset_plugins
from lamina.core.plugins.testing import project_on_path
from lamina.text.blocks import TextBlock
from lamina.text.demo import demo
from lamina.text.learner import language_model_learner, text_classifier_learner
from lamina.text.models.awd_lstm import AWD_LSTM, awd_lstm_clas_split
from lamina.text.tokenizers import BaseTokenizer, SentencePieceTokenizer, SpacyTokenizer

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture
def text_plugin(monkeypatch):
    """lamina-text as installed (the real installation, else its metadata written from pyproject)."""
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    with project_on_path(PROJECT):
        reset_plugins()
        yield
    reset_plugins()


def test_found_through_the_entry_point(text_plugin):
    (entry_point,) = importlib_metadata.entry_points(group="lamina", name="text")
    assert entry_point.value == "lamina.text.plugin"
    assert entry_point.dist.name == "lamina-text"
    info = {i.name: i for i in plugin_info()}["text"]
    assert (info.status, info.distribution, info.module) == ("loaded", "lamina-text", "lamina.text.plugin")
    assert set(info.registered) == {"datasets", "tokenizers", "blocks", "architectures", "learners", "demos"}
    assert {"IMDB", "IMDB_SAMPLE", "WIKITEXT", "WIKITEXT_TINY"} <= set(info.registered["datasets"])
    assert set(info.registered["learners"]) == {"language_model", "text_classifier"}
    assert tuple(info.registered["demos"]) == ("text",)


def test_registers_the_public_dataset_addresses(text_plugin):
    expected = {
        "IMDB": "https://s3.amazonaws.com/fast-ai-nlp/imdb.tgz",
        "IMDB_SAMPLE": "https://s3.amazonaws.com/fast-ai-sample/imdb_sample.tgz",
        "WIKITEXT": "https://s3.amazonaws.com/fast-ai-nlp/wikitext-103.tgz",
        "WIKITEXT_TINY": "https://s3.amazonaws.com/fast-ai-nlp/wikitext-2.tgz",
    }
    for name, url in expected.items():
        assert registry.datasets[name].url == url
        assert registry.datasets.owner(name) == "text"
    assert registry.datasets["IMDB_SAMPLE"].size == 571_827


def test_registers_tokenizers_block_architecture_learners_and_demo(text_plugin):
    assert registry.tokenizers["spacy"] is SpacyTokenizer
    assert registry.tokenizers["sentencepiece"] is SentencePieceTokenizer
    assert registry.tokenizers["base"] is BaseTokenizer
    assert registry.blocks["TextBlock"] is TextBlock
    spec = registry.architectures["AWD_LSTM"]
    assert (
        isinstance(spec, ArchitectureSpec) and spec.factory is AWD_LSTM and spec.split is awd_lstm_clas_split
    )
    assert registry.learners["language_model"] is language_model_learner
    assert registry.learners["text_classifier"] is text_classifier_learner
    assert registry.demos["text"] is demo
    owned = [
        (registry.tokenizers, "spacy"),
        (registry.blocks, "TextBlock"),
        (registry.architectures, "AWD_LSTM"),
    ]
    owned += [(registry.learners, "language_model"), (registry.demos, "text")]
    assert all(reg.owner(key) == "text" for reg, key in owned)


def test_registered_names_work_where_names_are_accepted(text_plugin):
    from lamina.text.tokenize import tokenize1

    assert tokenize1("Hello world", tok="base") == ["xxbos", "xxmaj", "hello", "world"]
    block = DataBlock(blocks=("TextBlock", "CategoryBlock"))
    assert isinstance(block.block_list[0], TextBlock)


def test_text_classes_are_registered_by_name_once(text_plugin):
    for name in (
        "TextBlock",
        "SortedDL",
        "LMDataLoader",
        "PadChunk",
        "PadInput",
        "ReverseText",
        "TensorText",
    ):
        cls = registry.classes[f"lamina.text.{name}"]
        assert registry.classes.name_of(cls) == f"lamina.text.{name}"
